import sys

from django.core.management.base import BaseCommand

from crds_server.jobs.registry import run


class Command(BaseCommand):
    help = ("Publish the server's mappings, references and config to the global read-only "
            "cache (temp name + rename: readers never see half-written files).")

    def add_arguments(self, parser):
        parser.add_argument("--dest", default=None, help="default /grp/crds/cache")

    def handle(self, **options):
        sys.exit(run("sync_ops_to_grp", echo=True, dest=options["dest"]))
