from django.urls import include, path, re_path

from crds_server.fileupload import views as upload
from crds_server.interactive import downloads, operators, views
from crds_server.jpoll import views as jpoll
from crds_server.jsonapi.views import jsonrpc
from crds_server.locking.views import lock_status
from crds_server.submission import views as submission

urlpatterns = [
    path("", views.home, name="home"),
    path("browse/<str:name>", views.file_page, name="file"),
    path("context_history/", views.context_history, name="context_history"),
    path("recent_activity/", views.recent_activity, name="recent_activity"),
    path("browse_db/", views.browse_db, name="browse_db"),
    path("set_context/", operators.set_context, name="set_context"),
    path("mark_bad/", operators.mark_files, name="mark_files"),
    re_path(r"^json/(?P<path>.*)$", jsonrpc, name="jsonrpc"),
    re_path(
        r"^unchecked_get/(?P<kind>mappings|references|config|pickles)/"
        r"(?P<observatory>[a-z]{2,9})/(?P<name>[^/]+)$",
        downloads.unchecked_get,
        name="unchecked_get",
    ),
    path("lock_status/<str:user>/", lock_status, name="lock_status"),
    path("login/", submission.login, name="login"),
    path("logout/", submission.logout, name="logout"),
    path("jpoll/open_channel", jpoll.open_channel, name="jpoll_open_channel"),
    path("upload/chunked/", upload.chunked, name="upload_chunked"),
    path("upload/list/", upload.listing, name="upload_list"),
    path("upload/delete/<str:name>", upload.delete, name="upload_delete"),
    path("batch_submit_references/", submission.batch_submit_references,
         name="batch_submit_references"),
    path("submission_form/redcat_submit/", submission.redcat_submit, name="redcat_submit"),
    path("submission_form/redcat_description.yml", submission.redcat_description,
         name="redcat_description"),
    path("certify/", submission.certify, name="certify"),
    path("submit/reference/", submission.submit_references, name="submit_references"),
    path("submit/mapping/", submission.submit_mappings, name="submit_mappings"),
    path("display_result/<str:results_id>", submission.display_result, name="display_result"),
    path("submit_confirm_pipeline/", submission.submit_confirm, name="submit_confirm"),
    path("delivery_status/", submission.deliveries, name="delivery_status"),
    path("", include("crds_server.rules.urls")),
]
