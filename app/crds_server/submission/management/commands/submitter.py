"""Submitters: Django users in the `submitters` group. The password is read from stdin
(one line) or a file, never from the command line.

    manage.py submitter set NAME --email E [--operator] < password-file
    manage.py submitter sync < submitters.json     # [{"name", "email", "password",
                                                   #   "operator": false}], the role's

An operator (--operator, "operator": true) is also in the `operators` group: the Set Context
and Mark Bad/Good pages.
    manage.py submitter remove NAME
    manage.py submitter list
"""

from __future__ import annotations

import json
import sys

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crds_server.accounts import OPERATORS, SUBMITTERS


def _set(name: str, email: str, password: str, operator: bool = False) -> str:
    if not name or not password:
        raise CommandError(f"submitter {name!r}: a name and a password are both needed")
    group, _ = Group.objects.get_or_create(name=SUBMITTERS)
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    user, created = User.objects.get_or_create(username=name)
    changed = created or user.email != email or not user.check_password(password) \
        or not user.groups.filter(name=SUBMITTERS).exists() or not user.is_active \
        or user.groups.filter(name=OPERATORS).exists() != operator
    if changed:
        user.email = email
        user.is_active = True
        user.set_password(password)
        user.save()
        user.groups.add(group)
        if operator:
            user.groups.add(operators)
        else:
            user.groups.remove(operators)
    return "created" if created else ("updated" if changed else "unchanged")


class Command(BaseCommand):
    help = "Add, update, remove or list the server's submitters (passwords on stdin)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["set", "sync", "remove", "list"])
        parser.add_argument("name", nargs="?")
        parser.add_argument("--email", default="")
        parser.add_argument("--operator", action="store_true",
                            help="also an operator (Set Context, Mark Bad/Good pages)")

    def handle(self, action, name=None, email="", operator=False, **options):
        if action == "list":
            for user in User.objects.filter(groups__name=SUBMITTERS).order_by("username"):
                self.stdout.write(f"{user.username} {user.email}")
            return
        if action == "remove":
            gone, _ = User.objects.filter(username=name, groups__name=SUBMITTERS).delete()
            self.stdout.write(f"{name}: {'removed' if gone else 'not a submitter'}")
            return
        if action == "set":
            password = sys.stdin.readline().rstrip("\n")
            self.stdout.write(f"{name}: {_set(name or '', email, password, operator)}")
            return
        try:
            wanted = json.load(sys.stdin)
        except ValueError as exc:
            raise CommandError(f"sync reads a JSON list of submitters on stdin: {exc}") from None
        if not isinstance(wanted, list):
            raise CommandError("sync reads a JSON list of {name, email, password}")
        with transaction.atomic():
            outcome = {w.get("name"): _set(str(w.get("name") or ""), str(w.get("email") or ""),
                                           str(w.get("password") or ""),
                                           bool(w.get("operator", False))) for w in wanted}
            keep = [w.get("name") for w in wanted]
            removed = User.objects.filter(groups__name=SUBMITTERS).exclude(username__in=keep)
            for user in removed:
                outcome[user.username] = "removed"
            removed.delete()
        changed = sorted(n for n, v in outcome.items() if v != "unchanged")
        self.stdout.write(f"submitters: {len(wanted)} wanted; "
                          f"changed: {', '.join(changed) or 'none'}")
