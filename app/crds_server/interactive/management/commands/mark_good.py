from crds_server import store
from crds_server.interactive.management.commands import mark_bad


class Command(mark_bad.Command):
    help = ("Mark a file good again (undo mark_bad): it, and each mapping blacklisted only "
            "because it used it, are clean again.")
    act = staticmethod(store.mark_good)
    done = "marked good"
