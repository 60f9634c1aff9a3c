from django.core.management.base import BaseCommand, CommandError

from crds_server import store


class Command(BaseCommand):
    help = "Set the operational (recorded in the context history) and/or edit context."

    def add_arguments(self, parser):
        parser.add_argument("--operational", metavar="PMAP")
        parser.add_argument("--edit", metavar="PMAP")
        parser.add_argument("--description", default="")
        parser.add_argument("--user", default="crds")
        parser.add_argument("--force", action="store_true",
                            help="accept a context whose references are not all in the store "
                            "(a dev server linking them from elsewhere); never one whose "
                            "mappings are incomplete")

    def handle(self, operational, edit, description, user, force, **options):
        if not operational and not edit:
            raise CommandError("give --operational PMAP and/or --edit PMAP")
        try:
            if operational:
                store.set_context(operational, which="operational", description=description,
                                  user=user, force=force)
                self.stdout.write(f"operational context is now {operational}")
            if edit:
                store.set_context(edit, which="edit", description=description, user=user,
                                  force=force)
                self.stdout.write(f"edit context is now {edit}")
        except store.StoreError as exc:
            raise CommandError(str(exc)) from None
