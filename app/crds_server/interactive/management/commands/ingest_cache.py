import sys

from django.core.management.base import BaseCommand, CommandError

from crds_server import ingest, store


class Command(BaseCommand):
    help = ("Check every file of a CRDS cache tree (CRDS_PATH layout) and add the good ones "
            "the catalog lacks to the file store and the catalog, all in one transaction. "
            "Each refused file is named with its reason; the exit status is 1 when any was "
            "refused. Idempotent: catalogued files are skipped.")

    def add_arguments(self, parser):
        parser.add_argument(
            "tree", help="a CRDS_PATH-like directory (mappings/<obs>/, references/<obs>/)")
        parser.add_argument("--user", default="crds", help="recorded as the deliverer")
        parser.add_argument("--description", default="", help="recorded as the comment")
        parser.add_argument("--dry-run", action="store_true",
                            help="check every file and print the report; change nothing")
        parser.add_argument("--allow-missing-references", action="store_true",
                            help="accept rmaps that name references neither catalogued nor "
                            "in the tree (a server whose references are linked in later)")
        parser.add_argument("--read-headers", action="store_true",
                            help="record each reference's pedigree, description and type "
                            "from its header (about 10 ms a file)")
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, tree, user, description, dry_run, allow_missing_references, read_headers,
               quiet, **options):
        progress = None if quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        try:
            report = ingest.ingest_tree(tree, user=user, description=description,
                                        dry_run=dry_run,
                                        allow_missing_references=allow_missing_references,
                                        read_headers=read_headers, progress=progress)
        except store.StoreError as exc:
            raise CommandError(str(exc)) from None
        verb = "would add" if dry_run else "added"
        for name in report.added:
            self.stdout.write(f"{verb} {name}")
        for name, why in sorted(report.refused.items()):
            self.stderr.write(f"REFUSED {name}: {why}")
        if report.missing_allowed:
            self.stdout.write(f"named but not present (allowed): {len(report.missing_allowed)} "
                              f"references, e.g. {', '.join(report.missing_allowed[:5])}")
        self.stdout.write(report.summary())
        if report.speeds():
            self.stdout.write(report.speeds())
        if report.refused:
            raise CommandError(f"{len(report.refused)} file(s) refused (named above); "
                               + ("nothing was changed (dry run)" if dry_run else
                                  "the others were added; fix the refused ones and re-run"))
