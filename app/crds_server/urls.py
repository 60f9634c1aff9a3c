from django.urls import path, re_path

from crds_server.interactive import downloads, views
from crds_server.jsonapi.views import jsonrpc
from crds_server.locking.views import lock_status

urlpatterns = [
    path("", views.home, name="home"),
    path("browse/<str:name>", views.file_page, name="file"),
    path("context_history/", views.context_history, name="context_history"),
    path("recent_activity/", views.recent_activity, name="recent_activity"),
    re_path(r"^json/(?P<path>.*)$", jsonrpc, name="jsonrpc"),
    re_path(
        r"^unchecked_get/(?P<kind>mappings|references|config|pickles)/"
        r"(?P<observatory>[a-z]{2,9})/(?P<name>[^/]+)$",
        downloads.unchecked_get,
        name="unchecked_get",
    ),
    path("lock_status/<str:user>/", lock_status, name="lock_status"),
]
