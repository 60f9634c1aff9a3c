import sys

from django.core.management.base import BaseCommand

from crds_server.jobs.registry import run


class Command(BaseCommand):
    help = ("When the operational context differs from ${CRDS}/monitor_reprocessing/"
            "old_context.txt: affected datasets old -> new, mailed to "
            "$CRDS_AFFECTED_DATASETS_RECIPIENTS (log + gzipped ids); then record the new one.")

    def add_arguments(self, parser):
        parser.add_argument("--datasets", type=int, default=None,
                            help="synthetic datasets to generate when the stand-in archive "
                                 "database is missing (default 3000)")

    def handle(self, **options):
        sys.exit(run("monitor_reprocessing", echo=True, datasets=options["datasets"]))
