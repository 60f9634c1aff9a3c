"""The rules pages' URLs (included at the site's root by crds_server.urls)."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
