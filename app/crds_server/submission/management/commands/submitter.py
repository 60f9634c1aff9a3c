"""Submitters: Django users in the `submitters` group. The password is read from stdin
(one line) or a file, never from the command line.

    manage.py submitter set NAME --email E < password-file
    manage.py submitter sync < submitters.json     # [{"name", "email", "password"}], the role's
    manage.py submitter remove NAME
    manage.py submitter list
"""

from __future__ import annotations

import json
import sys

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crds_server.submission.views import SUBMITTERS


def _set(name: str, email: str, password: str) -> str:
    if not name or not password:
        raise CommandError(f"submitter {name!r}: a name and a password are both needed")
    group, _ = Group.objects.get_or_create(name=SUBMITTERS)
    user, created = User.objects.get_or_create(username=name)
    changed = created or user.email != email or not user.check_password(password) \
        or not user.groups.filter(name=SUBMITTERS).exists() or not user.is_active
    if changed:
        user.email = email
        user.is_active = True
        user.set_password(password)
        user.save()
        user.groups.add(group)
    return "created" if created else ("updated" if changed else "unchanged")


class Command(BaseCommand):
    help = "Add, update, remove or list the server's submitters (passwords on stdin)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["set", "sync", "remove", "list"])
        parser.add_argument("name", nargs="?")
        parser.add_argument("--email", default="")

    def handle(self, action, name=None, email="", **options):
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
            self.stdout.write(f"{name}: {_set(name or '', email, password)}")
            return
        try:
            wanted = json.load(sys.stdin)
        except ValueError as exc:
            raise CommandError(f"sync reads a JSON list of submitters on stdin: {exc}") from None
        if not isinstance(wanted, list):
            raise CommandError("sync reads a JSON list of {name, email, password}")
        with transaction.atomic():
            outcome = {w.get("name"): _set(str(w.get("name") or ""), str(w.get("email") or ""),
                                           str(w.get("password") or "")) for w in wanted}
            keep = [w.get("name") for w in wanted]
            removed = User.objects.filter(groups__name=SUBMITTERS).exclude(username__in=keep)
            for user in removed:
                outcome[user.username] = "removed"
            removed.delete()
        changed = sorted(n for n, v in outcome.items() if v != "unchanged")
        self.stdout.write(f"submitters: {len(wanted)} wanted; "
                          f"changed: {', '.join(changed) or 'none'}")
