"""Waiting for a started kernel: until it answers on shell and its IOPub messages reach us.

jupyter_client's `wait_for_ready` ends with 0.2 s of silence on IOPub (its way to flush it), which
was two fifths of a warm kernel's start. Here the kernel is ready when the reply to our
kernel_info_request has arrived on shell and the idle status of that same request on IOPub: then
both channels are connected (IOPub's subscription drops what is published before it connects, so
without that idle status the request is sent again) and IOPub has been read up to that point.
"""

from __future__ import annotations

import time
from typing import Any

import zmq

ROUND_S = 1.0  # how long one kernel_info_request waits for its reply before another is sent
# After the reply, how long its idle status may take before IOPub counts as not yet connected and the
# request is sent again: short (it follows the reply by a millisecond once IOPub is connected), doubled
# each round up to ROUND_S so that a loaded machine gets there too.
FIRST_IOPUB_S = 0.02


def wait_until_ready(kc: Any, timeout_s: float) -> None:
    """Block until the kernel of `kc` (a blocking KernelClient with started channels) is ready.

    Raises RuntimeError, as jupyter_client does, when the kernel dies or `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    poller = zmq.Poller()
    poller.register(kc.shell_channel.socket, zmq.POLLIN)
    poller.register(kc.iopub_channel.socket, zmq.POLLIN)
    iopub_s = FIRST_IOPUB_S
    while True:
        msg_id = kc.kernel_info()
        if _answered(kc, poller, msg_id, min(deadline, time.monotonic() + ROUND_S), iopub_s):
            return
        iopub_s = min(ROUND_S, iopub_s * 2)
        if not kc.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout_s:g} seconds")


def _answered(kc: Any, poller: zmq.Poller, msg_id: str, round_ends: float, iopub_s: float) -> bool:
    """Did this request's reply and its idle status both arrive (the idle within `iopub_s` of the reply)?"""
    replied = idle = False
    while not (replied and idle):
        now = time.monotonic()
        if now >= round_ends:
            return False
        ready = dict(poller.poll(max(1, int((round_ends - now) * 1000))))
        if kc.shell_channel.socket in ready:
            reply = kc.shell_channel.get_msg(timeout=0)
            if reply["msg_type"] == "kernel_info_reply" and reply["parent_header"].get("msg_id") == msg_id:
                replied = True
                round_ends = min(round_ends, time.monotonic() + iopub_s)
        if kc.iopub_channel.socket in ready:
            message = kc.iopub_channel.get_msg(timeout=0)
            idle = idle or (message["msg_type"] == "status" and message["parent_header"].get("msg_id") == msg_id
                            and message["content"].get("execution_state") == "idle")
    return True
