from django.apps import AppConfig


class InteractiveConfig(AppConfig):
    name = "crds_server.interactive"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from crds_server.interactive import lookups  # noqa: F401 - registers field__like
