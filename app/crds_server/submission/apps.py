from django.apps import AppConfig


class SubmissionConfig(AppConfig):
    name = "crds_server.submission"
    default_auto_field = "django.db.models.BigAutoField"
