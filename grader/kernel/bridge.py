"""The trusted end of the bridge: how hidden tests reach student code in the sandbox.

Tests see a `student` object. `student.scaled_dot_product_attention(q, k, v)` sends
the inputs into the kernel as JSON + safetensors, the kernel calls the student's
function, and only the encoded outputs come back. Classes and other objects stay
in the sandbox as `RemoteObject` handles: calling one (or one of its methods)
makes another round trip. Nothing from the sandbox is unpickled or evaluated.
"""

from __future__ import annotations

import queue
import time
import types
import uuid
from pathlib import Path
from typing import Any, Callable

from grader.kernel import extract, iopub
from grader.kernel.extract import BoundaryError, Handle

COMM_TARGET = "grade.bridge"
AGENT_SOURCE = (Path(__file__).parent / "agent.py").read_text()
EXTRACT_SOURCE = (Path(__file__).parent / "extract.py").read_text()
INTERRUPT_GRACE_S = 5.0


class StudentCodeError(Exception):
    """Student code raised, returned something unusable, or did not answer in time."""


class StudentTimeout(StudentCodeError):
    pass


class KernelGone(StudentCodeError):
    pass


class Bridge:
    """Round trips to the kernel's agent, one at a time, each with a timeout."""

    def __init__(self, kc: Any, km: Any, *, call_timeout_s: float, is_alive: Callable[[], bool],
                 kill: Callable[[], None], read_iopub: Callable[[float], dict] | None = None) -> None:
        """`read_iopub(timeout_s)`: the kernel's next IOPub message, else queue.Empty (default: read from
        kc's IOPub socket by grader/kernel/iopub.py)."""
        self.kc = kc
        self.read_iopub = read_iopub or (lambda timeout_s: iopub.next_message(kc, timeout_s))
        self.km = km
        self.call_timeout_s = call_timeout_s
        self.is_alive = is_alive
        self.kill = kill
        self.installed = False
        self.dead_reason = ""
        self.comm_id = ""

    def install(self) -> None:
        """Build the agent in the kernel and open its comm: every later call is one comm message.

        A comm message skips IPython's cell machinery (compile, history, hooks): a round trip
        costs about 2 ms in the sandbox where executing a cell cost 4-5 ms.
        """
        code = (
            "def __grade_install():\n"
            "    import types\n"
            "    agent = types.ModuleType('_grade_agent_src')\n"
            f"    exec(compile({AGENT_SOURCE!r}, '<grade-agent>', 'exec'), agent.__dict__)\n"
            f"    agent.install(globals(), {EXTRACT_SOURCE!r}, {COMM_TARGET!r})\n"
            "__grade_install(); del __grade_install\n"
        )
        self._usable("the grader's bridge")
        msg_id = self.kc.execute(code, silent=False, store_history=False, allow_stdin=False)
        error = self._await(msg_id, "the grader's bridge", lambda kind, content: None)
        if error:
            raise StudentCodeError(f"the grader could not reach the notebook's code: {error}")
        self.comm_id = uuid.uuid4().hex
        opening = self.kc.session.msg("comm_open", {"comm_id": self.comm_id, "target_name": COMM_TARGET,
                                                    "data": {}})
        self.kc.shell_channel.send(opening)
        self._await(opening["header"]["msg_id"], "the grader's bridge", lambda kind, content: None)
        self.installed = True

    def request(self, op: str, target: "RemoteObject", label: str, *,
                step_labels: list[tuple[str, str]] | None = None, **fields: Any) -> Any:
        """One round trip. `step_labels`: for a request of several steps, (getattr label, call label) of
        each: an error names the step the kernel says failed, as that step's own request would."""
        if not self.installed:
            self.install()
        message = {"op": op, "target": target, **fields}
        try:
            text = extract.encode(message, make_handle=_handle_of)
        except BoundaryError as error:
            raise RuntimeError(f"the test sent a value that cannot cross the boundary: {error}") from error
        reply_text = self._exchange(text, label)
        try:
            reply = extract.decode(reply_text, lambda key, type_name: RemoteObject(self, key, type_name, label))
        except (BoundaryError, ValueError) as error:
            raise StudentCodeError(f"{label} returned something that cannot cross the boundary: {error}") from None
        if not isinstance(reply, dict) or "ok" not in reply:
            raise StudentCodeError(f"{label}: the kernel sent a malformed answer")
        if reply["ok"] is True:
            return reply.get("value")
        error = reply.get("error")
        step = error.get("step") if isinstance(error, dict) and step_labels else None
        if (isinstance(step, list) and len(step) == 2 and type(step[0]) is int and 0 <= step[0] < len(step_labels)
                and step[1] in ("getattr", "call")):
            label = step_labels[step[0]][0 if step[1] == "getattr" else 1]
        raise StudentCodeError(_explain(label, error))

    def _exchange(self, request_text: str, label: str) -> str:
        """Send one request over the comm and wait until the kernel is idle again."""
        self._usable(label)
        message = self.kc.session.msg("comm_msg", {"comm_id": self.comm_id, "data": {"request": request_text}})
        self.kc.shell_channel.send(message)
        replies: list[str] = []

        def collect(kind: str, content: dict) -> None:
            if kind == "comm_msg" and content.get("comm_id") == self.comm_id:
                value = content.get("data", {}).get("reply")
                if isinstance(value, str):
                    replies.append(value)

        error = self._await(message["header"]["msg_id"], label, collect)
        if not replies:
            raise StudentCodeError(
                f"{label}: no answer came back from the kernel"
                + (f" ({error})" if error else "") + "; did the notebook overwrite the grader's bridge?"
            )
        return replies[0]

    def _usable(self, label: str) -> None:
        if self.dead_reason:
            raise KernelGone(f"{label} could not be called: {self.dead_reason}")
        if not self.is_alive():
            self.dead_reason = "the kernel is not running (it died earlier)"
            raise KernelGone(f"{label} could not be called: {self.dead_reason}")

    def _await(self, msg_id: str, label: str, collect: Callable[[str, dict], None]) -> str | None:
        """Pass the kernel's messages for `msg_id` to `collect` until it is idle; return any error.

        Raises StudentTimeout after the call timeout (the kernel is interrupted, or stopped if
        that fails) and KernelGone if the kernel dies meanwhile.
        """
        deadline = time.monotonic() + self.call_timeout_s
        error: str | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._recover_from_timeout()
                raise StudentTimeout(
                    f"{label} did not return within {self.call_timeout_s:g} s: look for an endless loop"
                )
            try:
                msg = self.read_iopub(min(remaining, 1.0))
            except queue.Empty:
                if not self.is_alive():
                    self.dead_reason = f"the kernel died while running {label}"
                    raise KernelGone(self.dead_reason) from None
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg.get("msg_type")
            content = msg.get("content", {})
            if kind == "error":
                error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"[:500]
            elif kind == "status" and content.get("execution_state") == "idle":
                return error
            else:
                collect(kind, content)

    def _recover_from_timeout(self) -> None:
        """Interrupt the runaway call; if the kernel does not come back, stop it for good."""
        try:
            self.km.interrupt_kernel()
            deadline = time.monotonic() + INTERRUPT_GRACE_S
            while time.monotonic() < deadline:
                msg = self.read_iopub(max(0.1, deadline - time.monotonic()))
                if msg.get("msg_type") == "status" and msg["content"].get("execution_state") == "idle":
                    return
        except Exception:  # noqa: BLE001 - queue.Empty or a dead kernel: both end in kill below
            pass
        self.dead_reason = "an earlier call did not return in time and the kernel was stopped"
        self.kill()


def _handle_of(obj: Any) -> Handle:
    if isinstance(obj, RemoteObject):
        return Handle(obj._id, obj._type_name)
    raise BoundaryError(f"an object of type {type(obj).__name__} cannot be sent to the sandbox")


def _explain(label: str, error: Any) -> str:
    if not isinstance(error, dict):
        return f"{label} failed"
    kind = str(error.get("type", "Error"))[:100]
    message = str(error.get("message", ""))[:1000]
    location = str(error.get("location", ""))[:300]
    if kind == "NotImplementedError":
        return f"{label} is not implemented yet (it raised NotImplementedError)"
    where = f" at {location}" if location else ""
    return f"{label} raised {kind}: {message}{where}"


class RemoteObject:
    """An object that lives in the sandbox; attribute access and calls are round trips."""

    __slots__ = ("_bridge", "_id", "_type_name", "_label")

    def __init__(self, bridge: Bridge, id: int, type_name: str, label: str) -> None:
        self._bridge = bridge
        self._id = id
        self._type_name = type_name
        self._label = label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        label = name if self._id == 0 else f"{self._label}.{name}"
        try:
            return self._bridge.request("getattr", self, label, name=name)
        except StudentCodeError as error:
            if self._id == 0 and "NameError" in str(error):
                raise StudentCodeError(
                    f"`{name}` is not defined in your notebook: define it with exactly this name"
                ) from None
            raise

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        label = self._label if self._label.endswith(")") else f"{self._label}(...)"
        return self._bridge.request("call", self, label, args=list(args), kwargs=kwargs)

    def __repr__(self) -> str:
        return f"<{self._type_name} object in the sandbox ({self._label})>"

    @property
    def type_name(self) -> str:
        return self._type_name


def lookup(remote: RemoteObject, *paths: str) -> tuple[Any, ...]:
    """The values at dotted `paths` under `remote`, in one round trip instead of one per name.

    `lookup(student, "torch.autograd.functional.vjp")` resolves the names in the kernel in the
    order `student.torch.autograd.functional.vjp` would, each as that getattr would; the first
    that fails raises as it would. An object comes back as a handle labelled with its path."""
    labels = [path if remote._id == 0 else f"{remote._label}.{path}" for path in paths]
    try:
        values = remote._bridge.request("lookup", remote, ", ".join(labels), paths=[p.split(".") for p in paths])
    except StudentCodeError as error:
        first = paths[0].split(".", 1)[0] if paths else ""  # the first name the kernel looks up
        if remote._id == 0 and first and "NameError" in str(error) and f"'{first}'" in str(error):
            raise StudentCodeError(
                f"`{first}` is not defined in your notebook: define it with exactly this name") from None
        raise
    if not isinstance(values, list) or len(values) != len(paths):
        raise StudentCodeError(f"{', '.join(labels)}: the kernel sent a malformed answer")
    for value, label in zip(values, labels):
        if isinstance(value, RemoteObject):
            value._label = label
    return tuple(values)


def call_methods(remote: RemoteObject, *calls: tuple[Any, ...]) -> tuple[Any, ...]:
    """`remote.name(*args, **kwargs)` for each (name, args=(), kwargs={}) in order, in one round trip.

    The kernel runs them as the getattr and call requests would, one after another, and stops at
    the first that raises, which raises here as its own request would (with its label). Use it for
    calls with nothing to decide between them, e.g. load_state_dict, eval, state_dict."""
    steps, labels = [], []
    for call in calls:
        name, args, kwargs = call[0], tuple(call[1]) if len(call) > 1 else (), dict(call[2]) if len(call) > 2 else {}
        steps.append([name, list(args), kwargs])
        attribute = name if remote._id == 0 else f"{remote._label}.{name}"
        labels.append((attribute, f"{attribute}(...)"))
    values = remote._bridge.request("methods", remote, ", ".join(label for _, label in labels), calls=steps,
                                    step_labels=labels)
    if not isinstance(values, list) or len(values) != len(calls):
        raise StudentCodeError(f"{', '.join(label for _, label in labels)}: the kernel sent a malformed answer")
    for value, (_, label) in zip(values, labels):
        if isinstance(value, RemoteObject):
            value._label = label
    return tuple(values)


def student_namespace(bridge: Bridge) -> RemoteObject:
    """The `student` fixture: the notebook's global namespace, seen through the bridge."""
    return RemoteObject(bridge, 0, "namespace", "your notebook")


class InProcessBridge(Bridge):
    """The bridge's protocol with no kernel: the agent serves a namespace of this process.

    Only for trusted code: the reference standing in for a student when the course checks
    the reference against its own tests (grader/checks/suites.py). Every value still goes
    through extract's encoding both ways and objects stay behind handles, so tests see what
    a student's kernel would send them (copies, type names), not the objects themselves."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        super().__init__(None, None, call_timeout_s=0.0, is_alive=lambda: True, kill=lambda: None)
        # The agent as install() builds it in the kernel: both sources, under their kernel names.
        sources: dict[str, types.ModuleType] = {}
        for name, source, filename in (("_grade_extract", EXTRACT_SOURCE, "<grade-extract>"),
                                       ("_grade_agent_src", AGENT_SOURCE, "<grade-agent>")):
            sources[name] = types.ModuleType(name)
            exec(compile(source, filename, "exec"), sources[name].__dict__)
        self._agent = sources["_grade_agent_src"]._Agent(namespace, sources["_grade_extract"])

    def install(self) -> None:
        self.installed = True

    def _exchange(self, request_text: str, label: str) -> str:
        return str(self._agent.serve(request_text))


def in_process_namespace(namespace: dict[str, Any]) -> RemoteObject:
    """A `student` fixture over a namespace of this (trusted) process, through InProcessBridge."""
    return RemoteObject(InProcessBridge(namespace), 0, "namespace", "the notebook")
