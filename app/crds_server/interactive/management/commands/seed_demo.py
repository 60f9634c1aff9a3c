import datetime
import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crds_server import ingest, store
from crds_server.interactive.models import ContextHistory


class Command(BaseCommand):
    help = ("Generate a demo rule set for this server's observatory (crds_server.seeding), "
            "ingest it, record its context history and set the contexts. Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument("--dest", help="where to generate (default: server_files/seed/<obs>)")

    def handle(self, dest, **options):
        try:
            from crds_server.seeding import generate
        except ImportError as exc:
            raise CommandError(f"crds_server.seeding is not available ({exc})") from None
        obs = settings.CRDS_OBSERVATORY
        dest = Path(dest or Path(settings.CRDS_SERVER_FILES) / "seed" / obs)
        if (dest / "seed.json").exists() and (dest / "mappings").is_dir():
            import json

            manifest = json.loads((dest / "seed.json").read_text())
            self.stdout.write(f"reusing the seed in {dest}")
        else:
            if dest.exists():
                shutil.rmtree(dest)
            dest.mkdir(parents=True)
            manifest = generate(obs, str(dest))
        try:
            report = ingest.ingest_tree(dest, user="seed_demo", description="demo seed",
                                        read_headers=True)
            self.stdout.write(f"ingest: {report.summary()}")
            if report.refused:
                raise CommandError("seed files refused: " + "; ".join(
                    f"{name}: {why}" for name, why in sorted(report.refused.items())))
            for date, pmap, description in manifest["history"]:
                when = timezone.make_aware(
                    datetime.datetime.fromisoformat(date.replace("T", " ")), datetime.UTC)
                if not ContextHistory.objects.filter(observatory=obs, context=pmap,
                                                     start_date=when).exists():
                    store.set_context(pmap, which="operational", description=description,
                                      user="seed_demo", date=when)
            store.set_context(manifest["operational"], which="operational",
                              description="demo seed operational context", user="seed_demo",
                              date=self._last_date(obs, manifest["operational"]))
            store.set_context(manifest["edit"], which="edit", user="seed_demo")
        except store.StoreError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"operational {manifest['operational']}, edit {manifest['edit']}, "
                          f"{len(manifest.get('datasets', []))} datasets in {dest}/datasets")

    @staticmethod
    def _last_date(obs, pmap):
        """Re-use the history entry of ``pmap`` when it is already the latest one."""
        last = ContextHistory.objects.filter(observatory=obs).order_by("-start_date").first()
        return last.start_date if last and last.context == pmap else None
