"""kernel/iopub.py: a kernel message read as jupyter_client reads it, without parsing dates."""

from __future__ import annotations

import pytest
from jupyter_client.session import Session

from grader.kernel.iopub import BadMessage, parse


def frames(session: Session, parent_id: str = "request-1") -> list[bytes]:
    parent = session.msg_header("comm_msg")
    parent["msg_id"] = parent_id
    message = session.msg("status", {"execution_state": "idle"}, parent=parent)
    return [b"kernel.iopub", *session.serialize(message)]


def test_a_signed_message_reads_as_jupyter_client_reads_it() -> None:
    sender, reader = Session(key=b"secret"), Session(key=b"secret")
    sent = frames(sender)
    ours = parse(reader, sent)
    theirs = Session(key=b"secret").deserialize(sent[sent.index(b"<IDS|MSG>") + 1:])
    assert ours["msg_type"] == theirs["msg_type"] == "status"
    assert ours["msg_id"] == theirs["msg_id"]
    assert ours["content"] == theirs["content"] == {"execution_state": "idle"}
    assert ours["parent_header"]["msg_id"] == theirs["parent_header"]["msg_id"] == "request-1"
    assert isinstance(ours["header"]["date"], str)  # left as sent: nothing here reads it


def test_a_forged_replayed_or_malformed_message_is_refused() -> None:
    sender, reader = Session(key=b"secret"), Session(key=b"secret")
    with pytest.raises(BadMessage, match="invalid signature"):
        parse(reader, frames(Session(key=b"another key")))
    sent = frames(sender)
    parse(reader, sent)
    with pytest.raises(BadMessage, match="replayed"):
        parse(reader, sent)
    tampered = frames(sender)
    tampered[-1] = b'{"execution_state": "busy"}'
    with pytest.raises(BadMessage, match="invalid signature"):
        parse(reader, tampered)
    with pytest.raises(BadMessage, match="no delimiter"):
        parse(reader, [b"no", b"delimiter"])
    with pytest.raises(BadMessage, match="fewer than 5"):
        parse(reader, [b"<IDS|MSG>", b"sig", b"{}"])
