from django.apps import AppConfig


class JsonapiConfig(AppConfig):
    name = "crds_server.jsonapi"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from crds_server import crdslog

        crdslog.install()
