"""CRDS server: the Django application that serves a CRDS file catalog to the crds client."""

__version__ = "0.1.0"
