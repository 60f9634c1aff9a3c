from django.core.management.base import BaseCommand, CommandError

from crds_server import store


class Command(BaseCommand):
    help = ("Mark a file bad: a reference is rejected; a mapping and every "
            "mapping that uses it are blacklisted.")
    act = staticmethod(store.mark_bad)
    done = "marked bad"

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--reason", default="")
        parser.add_argument("--user", default="crds")

    def handle(self, name, reason, user, **options):
        try:
            changed = self.act(name, user=user, reason=reason)
        except store.StoreError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{self.done}: {', '.join(changed)}")
