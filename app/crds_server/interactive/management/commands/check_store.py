import json

from django.core.management.base import BaseCommand, CommandError

from crds_server import store


class Command(BaseCommand):
    help = ("Compare the catalog with the file store: missing files, size or sha1 mismatches, "
            "orphans, and every context of the history and the defaults whose closure is "
            "broken. Exits non-zero when there is a problem.")

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--no-sha1", action="store_true", help="check sizes only (fast)")

    def handle(self, **options):
        report = store.check_store(verify_sha1=not options["no_sha1"])
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=1))
        else:
            self.stdout.write(f"{report['files']} catalogued files checked")
            for kind in ("missing", "size_mismatch", "sha1_mismatch", "orphans"):
                for name in report[kind]:
                    self.stdout.write(f"{kind.upper()}: {name}")
            for why in report["broken_contexts"].values():
                self.stdout.write(f"BROKEN CONTEXT: {why}")
            for pmap, count in report["contexts_lacking_references"].items():
                self.stdout.write(f"context {pmap}: {count} references not in the store")
        if not report["ok"]:
            raise CommandError("the file store does not match the catalog (see above)")
