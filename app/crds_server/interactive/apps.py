from django.apps import AppConfig


class InteractiveConfig(AppConfig):
    name = "crds_server.interactive"
    default_auto_field = "django.db.models.BigAutoField"
