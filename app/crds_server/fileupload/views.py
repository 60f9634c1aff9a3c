"""Upload views of the submit client and the web pages (section 7, step 7)."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie

from crds_server.accounts import is_submitter
from crds_server.fileupload import area


def _who(request):
    if not request.user.is_authenticated:
        return None, JsonResponse({"error": "log in first (/login/)"}, status=403)
    if not is_submitter(request.user):
        return None, JsonResponse({"error": f"{request.user.username} is not a submitter on "
                                            "this server"}, status=403)
    return request.user.username, None


@ensure_csrf_cookie
def chunked(request):
    user, refused = _who(request)
    if refused:
        return refused
    if request.method != "POST":
        return JsonResponse({"files": area.listing(user)})
    received = []
    try:
        for upload in request.FILES.getlist("files"):
            received.append(area.receive(user, upload.name, upload.chunks(),
                                         request.headers.get("Content-Range")))
    except area.UploadError as exc:
        return JsonResponse({"files": received, "error": str(exc)}, status=400)
    return JsonResponse({"files": received})


@ensure_csrf_cookie
def listing(request):
    user, refused = _who(request)
    return refused or JsonResponse({"files": area.listing(user)})


def delete(request, name):
    user, refused = _who(request)
    if refused:
        return refused
    try:
        gone = area.delete(user, name)
    except area.UploadError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"files": [{name: gone}]}, status=200 if gone else 404)
