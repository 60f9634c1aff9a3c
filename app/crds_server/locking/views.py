from django.http import JsonResponse

from crds_server.locking.models import Lock


def lock_status(request, user):
    """What the submit client asks before logging in: the user's instrument lock, if any."""
    lock = Lock.objects.filter(user=user).first()
    if lock is None:
        return JsonResponse({"name": "", "is_expired": True, "type": "", "user": user})
    return JsonResponse({"name": lock.name, "is_expired": lock.is_expired, "type": lock.type,
                         "user": lock.user})
