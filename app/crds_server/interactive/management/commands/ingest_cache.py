from django.core.management.base import BaseCommand, CommandError

from crds_server import store


class Command(BaseCommand):
    help = ("Copy the files of a CRDS cache tree (CRDS_PATH layout) that the catalog lacks "
            "into the file store and catalogue them. Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument(
            "tree", help="a CRDS_PATH-like directory (mappings/<obs>/, references/<obs>/)")
        parser.add_argument("--user", default="crds", help="recorded as the deliverer")
        parser.add_argument("--description", default="", help="recorded as the comment")

    def handle(self, tree, user, description, **options):
        try:
            report = store.ingest_tree(tree, user=user, description=description)
        except store.StoreError as exc:
            raise CommandError(str(exc)) from None
        store.forget_server_info()
        for name in report.added:
            self.stdout.write(f"added {name}")
        for problem in report.refused:
            self.stderr.write(f"REFUSED {problem}")
        self.stdout.write(report.summary())
        if report.refused:
            raise CommandError(f"{len(report.refused)} file(s) refused; fix them and re-run")
