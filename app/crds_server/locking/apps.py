from django.apps import AppConfig


class LockingConfig(AppConfig):
    name = "crds_server.locking"
    default_auto_field = "django.db.models.BigAutoField"
