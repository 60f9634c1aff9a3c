"""Every action of a logged-in submitter restarts their lock's timer; a lock that expired
(or another user took once it had) logs them off and cancels their submission in progress."""

from __future__ import annotations

from django.contrib.auth import logout

from crds_server.locking import locks


class InstrumentLockMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and request.path != "/logout/":
            instrument = request.session.get("instrument", "none")
            if instrument != "none":
                lock = locks.held(user.username, instrument)
                if lock is None:
                    from crds_server.submission import engine

                    engine.cancel_all(user.username, reason=f"the {instrument} lock expired")
                    logout(request)
                    request.lock_expired = instrument
                else:
                    locks.touch(lock)
        return self.get_response(request)
