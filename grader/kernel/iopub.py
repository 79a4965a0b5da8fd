"""The kernel's IOPub messages as the bridge reads them: without jupyter_client's per-message extras.

The bridge reads some 500 messages per notebook, each to match its parent's msg_id and read its
content. jupyter_client's blocking client runs an asyncio loop for every read and parses every
string of both headers as a possible date (with dateutil): a quarter of the bridge's CPU, for
nothing the bridge looks at. Here the frames are read from the channel's socket and checked as
jupyter_client checks them (the HMAC signature, never the same one twice); headers stay strings.
"""

from __future__ import annotations

import hmac
import queue
from typing import Any


class BadMessage(ValueError):
    """A frame set that is not a signed kernel message (forged, replayed or malformed)."""


def next_message(kc: Any, timeout_s: float) -> dict[str, Any]:
    """The next message on the IOPub channel of `kc`; queue.Empty after `timeout_s` seconds."""
    socket = kc.iopub_channel.socket
    if not socket.poll(max(0, int(timeout_s * 1000))):
        raise queue.Empty
    return parse(kc.session, socket.recv_multipart())


def parse(session: Any, frames: list[bytes]) -> dict[str, Any]:
    """header, msg_type, parent_header, metadata and content of a message's frames (`session`'s key)."""
    try:
        parts = frames[frames.index(b"<IDS|MSG>") + 1:]
    except ValueError:
        raise BadMessage("malformed message: no delimiter") from None
    if len(parts) < 5:
        raise BadMessage("malformed message: fewer than 5 parts")
    if session.auth is not None:
        signature = parts[0]
        if not signature or signature in session.digest_history:
            raise BadMessage("unsigned or replayed message")
        if not hmac.compare_digest(signature, session.sign(parts[1:5])):
            raise BadMessage("invalid signature")
        session._add_digest(signature)  # jupyter_client's own bookkeeping (it culls a long history)
    header = session.unpack(parts[1])
    return {"header": header, "msg_id": header.get("msg_id"), "msg_type": header.get("msg_type"),
            "parent_header": session.unpack(parts[2]), "metadata": session.unpack(parts[3]),
            "content": session.unpack(parts[4])}
