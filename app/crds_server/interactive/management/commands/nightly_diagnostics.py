import sys

from django.core.management.base import BaseCommand

from crds_server.jobs.registry import run


class Command(BaseCommand):
    help = ("Nightly diagnostics: config, disk usage, code status, cache consistency and "
            "orphans (check_store), mailed to $MAILTO; non-zero exit on problems.")

    def add_arguments(self, parser):
        parser.add_argument("--no-sha1", action="store_true", help="check sizes only")

    def handle(self, **options):
        sys.exit(run("nightly", echo=True, sha1=not options["no_sha1"]))
