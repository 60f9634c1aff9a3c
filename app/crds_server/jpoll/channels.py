"""Open, write, read and abort jpoll channels (section 7 of the server contract).

Message types the client knows: log_message, verbose, warning, error (it logs them and
goes on polling); done (data {"status": 0 ok | 1 failed | 3 cancelled, "result": url}),
cancel and fail (data {"result": ...}) end its monitoring.
"""

from __future__ import annotations

import json
import re
import uuid

from django.utils import timezone

from crds_server.jpoll.models import Channel, Message

KEY = re.compile(r"^[A-Za-z0-9:.-]{1,128}$")
STATUS_OK, STATUS_FAILED, STATUS_CANCELLED = 0, 1, 3


class ChannelNotFound(LookupError):
    def __init__(self, key: str):
        super().__init__(f"Channel {key!r} not found")


class Aborted(RuntimeError):
    def __init__(self):
        super().__init__("External agent requested calling process termination.")


def open_channel(user: str = "") -> str:
    key = f"{uuid.uuid4()}"
    Channel.objects.create(key=key, user=user)
    return key


def _channel(key: str) -> Channel:
    if not isinstance(key, str) or not KEY.match(key):
        raise ChannelNotFound(str(key)[:40])
    channel = Channel.objects.filter(key=key, expires__gt=timezone.now()).first()
    if channel is None:
        raise ChannelNotFound(key)
    return channel


def push(key: str | None, kind: str, data) -> None:
    """Write one message; nothing when there is no channel (a browser without jpoll).
    Raises Aborted once someone asked the channel's process to stop."""
    if not key:
        return
    try:
        channel = _channel(key)
    except ChannelNotFound:
        return
    if channel.aborted:
        raise Aborted()
    Message.objects.create(channel=channel, type=kind, data=json.dumps(data))


def pull(key: str, since_id=None) -> list[dict]:
    channel = _channel(key)
    try:
        since = int(since_id) if since_id not in (None, "", "None", "none") else 0
    except (TypeError, ValueError):
        raise ValueError(f"since_id must be a message number, not {str(since_id)[:40]!r}") \
            from None
    return [{"id": m.id, "type": m.type, "data": json.loads(m.data),
             "time": m.time.isoformat(timespec="seconds")}
            for m in channel.messages.filter(id__gt=since)[:1000]]


def abort(key: str) -> bool:
    channel = _channel(key)
    channel.aborted = True
    channel.save(update_fields=["aborted"])
    return True


def clear_expired() -> int:
    count, _ = Channel.objects.filter(expires__lte=timezone.now()).delete()
    return count
