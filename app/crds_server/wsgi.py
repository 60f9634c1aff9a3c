"""WSGI entry point: Apache/mod_wsgi (and mod_wsgi-express) load `application` from here."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crds_server.settings")

application = get_wsgi_application()
