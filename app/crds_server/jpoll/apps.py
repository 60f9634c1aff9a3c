from django.apps import AppConfig


class JpollConfig(AppConfig):
    name = "crds_server.jpoll"
    default_auto_field = "django.db.models.BigAutoField"
