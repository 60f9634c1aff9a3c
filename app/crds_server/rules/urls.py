"""The rules pages' URLs (included at the site's root by crds_server.urls).

A context history row links to the differences from the previous context with
``{% url 'difference' %}?old=<prev>&new=<this>``, or ``?new=<this>`` alone (the previous
context of the history is found), or ``{% include "rules/_difference_link.html" %}``."""

from django.urls import path

from crds_server.rules import views

urlpatterns = [
    path("context_table/<str:name>", views.context_table, name="context_table"),
    path("difference/", views.difference, name="difference"),
    path("difference/<str:old>/<str:new>", views.difference, name="difference_pair"),
    path("bestrefs/", views.bestrefs, name="bestrefs"),
]
