from django.apps import AppConfig


class RulesConfig(AppConfig):
    name = "crds_server.rules"
    default_auto_field = "django.db.models.BigAutoField"
