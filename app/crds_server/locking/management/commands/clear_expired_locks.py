from django.core.management.base import BaseCommand

from crds_server.locking.models import Lock


class Command(BaseCommand):
    help = "Delete instrument locks older than their 4 hour expiry (cron: every 5 minutes)."

    def handle(self, **options):
        cleared = Lock.clear_expired()
        for lock in cleared:
            self.stdout.write(f"cleared {lock}")
        self.stdout.write(f"{len(cleared)} expired lock(s) cleared")
