import sys

from django.core.management.base import BaseCommand

from crds_server.jobs.registry import run


class Command(BaseCommand):
    help = ("Follow each delivery's catalog in deliveries/ (renamed by the archive as it "
            "works, deleted when done) into the delivery's and its files' states.")

    def handle(self, **options):
        sys.exit(run("track_deliveries", echo=True))
