import sys

from django.core.management.base import BaseCommand

from crds_server.jobs.registry import run


class Command(BaseCommand):
    help = ("The nightly backup (the same as `invoke backup`: the ops agent with the "
            "arguments in ${CRDS}/CRDS_server/host/backup.json).")

    def handle(self, **options):
        sys.exit(run("backup", echo=True))
