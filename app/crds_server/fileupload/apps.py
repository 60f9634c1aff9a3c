from django.apps import AppConfig


class FileuploadConfig(AppConfig):
    name = "crds_server.fileupload"
    default_auto_field = "django.db.models.BigAutoField"
