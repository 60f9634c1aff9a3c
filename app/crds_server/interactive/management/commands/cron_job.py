import sys

from django.core.management.base import BaseCommand

from crds_server.jobs import JOBS
from crds_server.jobs.registry import run


class Command(BaseCommand):
    help = ("Run one cron job under its lock (a second start exits 0: 'already running'), "
            "logging to <logs>/<job>.log; non-zero exit and a mail to MAILTO on failure.")

    def add_arguments(self, parser):
        parser.add_argument("job", choices=sorted(JOBS))
        parser.add_argument("--echo", action="store_true", help="also log to stderr")

    def handle(self, **options):
        sys.exit(run(options["job"], echo=options["echo"]))
