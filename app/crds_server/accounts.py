"""Who may do what on the site: submitters deliver files (the `submitters` group);
operators set contexts and mark files bad or good (the `operators` group). Superusers may
do both. Accounts come from the crds_server role (the vault) or `manage.py submitter`."""

from __future__ import annotations

SUBMITTERS = "submitters"
OPERATORS = "operators"


def in_group(user, group: str) -> bool:
    return bool(user.is_authenticated and (
        user.is_superuser or user.groups.filter(name=group).exists()))


def is_submitter(user) -> bool:
    return in_group(user, SUBMITTERS)


def is_operator(user) -> bool:
    return in_group(user, OPERATORS)


def roles(request) -> dict:
    """Template context: what the signed-in user may do (the navigation shows it)."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"is_submitter": is_submitter(user), "is_operator": is_operator(user)}
