from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crds_server.seeding import scale


class Command(BaseCommand):
    help = ("Write a rules tree the size of HST ops (mappings, small reference files, a history "
            "of contexts) into DEST, for scale tests; ingest it with ingest_cache. HST only.")

    def add_arguments(self, parser):
        parser.add_argument("dest", help="an empty or new directory")
        parser.add_argument("--mappings", type=int, default=2300)
        parser.add_argument("--references", type=int, default=150_000)
        parser.add_argument("--current", type=int, default=20_000,
                            help="references the newest context selects")

    def handle(self, dest, mappings, references, current, **options):
        from django.conf import settings

        if settings.CRDS_OBSERVATORY != "hst":
            raise CommandError("the scale tree is an HST one; run it on an HST server")
        path = Path(dest)
        if path.exists() and any(path.iterdir()):
            raise CommandError(f"{dest} is not empty; give a new directory")
        manifest = scale.generate(path, mappings=mappings, references=references,
                                  current=current, progress=self.stderr.write)
        self.stdout.write(f"{manifest['mappings']} mappings, {manifest['references']} "
                          f"references; {manifest['operational']} selects "
                          f"{manifest['operational_references']} in {dest}")
