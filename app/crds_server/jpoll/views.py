from django.http import JsonResponse
from django.views.decorators.csrf import ensure_csrf_cookie

from crds_server.jpoll import channels


@ensure_csrf_cookie
def open_channel(request):
    """A new status channel for this session's next long request; answers its key."""
    user = request.user.username if request.user.is_authenticated else ""
    key = channels.open_channel(user)
    request.session["jpoll_key"] = key
    return JsonResponse(key, safe=False)
