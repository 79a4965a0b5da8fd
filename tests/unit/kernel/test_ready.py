"""kernel/ready.py: a kernel is ready when shell answered and IOPub carries what it says next."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client import KernelManager

from grader.kernel.ready import wait_until_ready


@pytest.fixture()
def kernel() -> Iterator[tuple[KernelManager, Any]]:
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_after_ready_both_channels_carry_the_next_request(kernel: tuple[KernelManager, Any]) -> None:
    _, kc = kernel
    wait_until_ready(kc, 60)
    msg_id = kc.execute("print('hello from the kernel')")
    reply = kc.get_shell_msg(timeout=30)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok"
    said = []
    while True:
        message = kc.get_iopub_msg(timeout=30)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            said.append(message["content"]["text"])
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    assert said == ["hello from the kernel\n"]  # nothing of it published before IOPub was connected


def test_a_kernel_that_died_is_reported_not_waited_for(kernel: tuple[KernelManager, Any]) -> None:
    km, kc = kernel
    km.provisioner.process.kill()  # type: ignore[union-attr]
    km.provisioner.process.wait()  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="Kernel died before replying"):
        wait_until_ready(kc, 60)
