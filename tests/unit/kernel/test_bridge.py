"""The bridge without a kernel: grader/kernel/bridge.py's framing against grader/kernel/agent.py.

The agent is built the way the kernel builds it (compiled from its source, with extract.py's source
beside it), and a fake kernel client carries the messages: each comm message in on the shell
channel, its reply out on iopub between `busy` and `idle`, as ipykernel frames them.
"""

from __future__ import annotations

import linecache
import queue
import types
import uuid
from typing import Any, Callable

import pytest
import torch

from grader.kernel import bridge as bridge_module
from grader.kernel import extract
from grader.kernel.bridge import (AGENT_SOURCE, EXTRACT_SOURCE, Bridge, KernelGone, RemoteObject, StudentCodeError,
                                  StudentTimeout, call_methods, lookup, student_namespace)

STUDENT_FILE = "/tmp/ipykernel_61000/cell_3.py"  # where a notebook cell's code says it comes from
STUDENT_CODE = """\
import torch

def double(x):
    return 2 * x

def picky(x):
    raise ValueError(f"expected 4 values, got {x.numel()}")

def todo(x):
    raise NotImplementedError("replace this line with your solution")

class Counter:
    def __init__(self, start):
        self.count = start
    def add(self, n):
        self.count += n
        return self.count

class AlwaysEqual:
    def __eq__(self, other):
        return True

def cheat():
    return AlwaysEqual()

def count_of(counter):
    return counter.count
"""


def kernel_agent(namespace: dict[str, Any]) -> Any:
    """The agent as bridge.install builds it in the kernel: both sources compiled under their kernel names."""
    extract_module = types.ModuleType("_grade_extract")
    exec(compile(EXTRACT_SOURCE, "<grade-extract>", "exec"), extract_module.__dict__)
    agent_module = types.ModuleType("_grade_agent_src")
    exec(compile(AGENT_SOURCE, "<grade-agent>", "exec"), agent_module.__dict__)
    return agent_module._Agent(namespace, extract_module)


def student_globals() -> dict[str, Any]:
    linecache.cache[STUDENT_FILE] = (len(STUDENT_CODE), None, STUDENT_CODE.splitlines(True), STUDENT_FILE)
    namespace: dict[str, Any] = {}
    exec(compile(STUDENT_CODE, STUDENT_FILE, "exec"), namespace)
    return namespace


class FakeSession:
    def msg(self, msg_type: str, content: dict) -> dict:
        return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type}, "msg_type": msg_type,
                "content": content}


class FakeKernel:
    """Plays both kc and km for the bridge; `serve` answers each request (the agent, unless replaced)."""

    def __init__(self, serve: Callable[[str], str | None]) -> None:
        self.serve = serve
        self.session = FakeSession()
        self.shell_channel = self
        self.iopub: queue.Queue[dict] = queue.Queue()
        self.requests: list[str] = []
        self.alive = True
        self.hang = False  # the next request never finishes
        self.die = False  # the kernel dies on the next request
        self.interruptible = True
        self.hung = ""
        self.forge: Callable[[str, str], list[dict]] = lambda msg_id, comm_id: []  # published before each reply

    def publish(self, parent_id: str, kind: str, content: dict) -> None:
        self.iopub.put({"parent_header": {"msg_id": parent_id}, "msg_type": kind, "content": content})

    def execute(self, code: str, **options: Any) -> str:
        msg_id = uuid.uuid4().hex
        self.publish(msg_id, "status", {"execution_state": "idle"})
        return msg_id

    def send(self, message: dict) -> None:
        msg_id = message["header"]["msg_id"]
        self.publish(msg_id, "status", {"execution_state": "busy"})
        if message["msg_type"] == "comm_msg":
            request = message["content"]["data"]["request"]
            self.requests.append(request)
            for forged in self.forge(msg_id, message["content"]["comm_id"]):
                self.iopub.put(forged)
            if self.die:
                self.alive = False
                return
            if self.hang:
                self.hang = False
                self.hung = msg_id
                return
            reply = self.serve(request)
            if reply is not None:
                self.publish(msg_id, "comm_msg", {"comm_id": message["content"]["comm_id"], "data": {"reply": reply}})
        self.publish(msg_id, "status", {"execution_state": "idle"})

    def get_iopub_msg(self, timeout: float) -> dict:
        return self.iopub.get(timeout=timeout)

    def interrupt_kernel(self) -> None:
        if self.interruptible:
            self.publish(self.hung, "status", {"execution_state": "idle"})


def connect(serve: Callable[[str], str | None] | None = None, *, call_timeout_s: float = 2.0,
            ) -> tuple[RemoteObject, FakeKernel, list[str]]:
    kernel = FakeKernel(serve or kernel_agent(student_globals()).serve)
    killed: list[str] = []

    def kill() -> None:
        killed.append("killed")
        kernel.alive = False

    bridge = Bridge(kernel, kernel, call_timeout_s=call_timeout_s, is_alive=lambda: kernel.alive, kill=kill,
                    read_iopub=kernel.get_iopub_msg)
    return student_namespace(bridge), kernel, killed


# -- round trips -----------------------------------------------------------------------------
def test_a_call_sends_inputs_in_and_brings_only_the_encoded_output_back() -> None:
    student, kernel, _ = connect()
    x = torch.arange(4.0)
    assert torch.equal(student.double(x), 2 * x)
    getattr_request, call_request = (extract.decode(text) for text in kernel.requests)
    assert getattr_request["op"] == "getattr" and getattr_request["name"] == "double"
    assert getattr_request["target"].id == 0  # the notebook's namespace
    assert call_request["op"] == "call" and call_request["target"].type_name == "function"
    assert torch.equal(call_request["args"][0], x) and call_request["kwargs"] == {}


def test_objects_stay_in_the_sandbox_and_are_used_through_handles() -> None:
    student, _, _ = connect()
    counter = student.Counter(10)
    assert isinstance(counter, RemoteObject) and counter.type_name == "Counter"
    assert counter.add(5) == 15 and counter.add(1) == 16  # the same object, on the other side
    assert counter.count == 16
    assert "Counter object in the sandbox" in repr(counter)


def test_an_always_equal_object_cannot_fool_a_comparison_in_the_grader() -> None:
    student, _, _ = connect()
    cheat = student.cheat()
    assert isinstance(cheat, RemoteObject) and cheat.type_name == "AlwaysEqual"
    assert cheat != torch.ones(2) and not (cheat == 42)  # its __eq__ never runs here


def test_a_remote_object_can_be_sent_back_as_an_argument() -> None:
    student, _, _ = connect()
    counter = student.Counter(7)
    assert student.count_of(counter) == 7  # the agent resolves the handle to the object it kept


def test_a_lookup_resolves_dotted_paths_in_one_round_trip_as_the_getattr_chain_would() -> None:
    student, kernel, _ = connect()
    chained = student.torch.nn.functional.relu  # one round trip per name
    before = len(kernel.requests)
    relu, add = lookup(student, "torch.nn.functional.relu", "Counter.add")
    assert len(kernel.requests) == before + 1
    assert relu.type_name == chained.type_name and add.type_name == "function"
    assert repr(relu) == repr(chained)  # the same label: error messages name the path as before
    assert torch.equal(relu(torch.tensor([-1.0, 2.0])), torch.tensor([0.0, 2.0]))
    counter = student.Counter(3)
    (count,) = lookup(counter, "count")
    assert count == 3


def test_a_lookup_fails_as_the_getattr_chain_would() -> None:
    student, _, _ = connect()
    with pytest.raises(StudentCodeError, match=r"^`attention` is not defined in your notebook"):
        lookup(student, "attention.forward")
    with pytest.raises(StudentCodeError, match=r"torch\.nn\.no_such_module raised AttributeError"):
        lookup(student, "torch.nn.no_such_module")


def test_call_methods_runs_the_calls_in_order_in_one_round_trip() -> None:
    student, kernel, _ = connect()
    counter = student.Counter(10)
    before = len(kernel.requests)
    assert call_methods(counter, ("add", (5,)), ("add", (), {"n": 1})) == (15, 16)
    assert len(kernel.requests) == before + 1
    assert counter.count == 16  # the same object, changed in the kernel


def test_call_methods_stops_at_the_first_failure_and_names_it_as_its_own_request_would() -> None:
    student, _, _ = connect()
    counter = student.Counter(1)
    with pytest.raises(StudentCodeError) as separate:
        counter.add("x")
    with pytest.raises(StudentCodeError) as batched:
        call_methods(counter, ("add", (1,)), ("add", ("x",)), ("add", (100,)))
    assert str(batched.value) == str(separate.value)
    assert str(batched.value).startswith("Counter(...).add(...) raised TypeError")
    assert counter.count == 2  # the first call ran, the third never did
    with pytest.raises(StudentCodeError, match=r"^Counter\(\.\.\.\)\.nothing raised AttributeError"):
        call_methods(counter, ("nothing",))


# -- what the student is told ----------------------------------------------------------------
def test_an_undefined_name_says_how_to_fix_it() -> None:
    student, _, _ = connect()
    with pytest.raises(StudentCodeError, match=r"^`attention` is not defined in your notebook: define it with "
                                               r"exactly this name$"):
        student.attention(torch.ones(2))


def test_an_exception_names_the_students_own_line() -> None:
    student, _, _ = connect()
    with pytest.raises(StudentCodeError) as info:
        student.picky(torch.ones(3))
    assert str(info.value) == ("picky(...) raised ValueError: expected 4 values, got 3 "
                               "at line 7: raise ValueError(f\"expected 4 values, got {x.numel()}\")")


def test_the_agents_own_lines_are_never_shown_as_the_students() -> None:
    student, _, _ = connect()
    counter = student.Counter(1)
    with pytest.raises(StudentCodeError) as info:
        counter.missing  # AttributeError raised by the agent's getattr, not by student code
    assert "raised AttributeError" in str(info.value) and " at line" not in str(info.value)


def test_not_implemented_says_so() -> None:
    student, _, _ = connect()
    with pytest.raises(StudentCodeError, match=r"^todo\(\.\.\.\) is not implemented yet"):
        student.todo(1)


def test_a_value_the_test_cannot_send_is_the_tests_error_not_the_students() -> None:
    student, _, _ = connect()
    with pytest.raises(RuntimeError, match="the test sent a value that cannot cross the boundary") as info:
        student.double({1, 2})
    assert not isinstance(info.value, StudentCodeError)


def test_a_return_value_that_cannot_cross_is_the_students_error() -> None:
    student, kernel, _ = connect()
    kernel.serve = kernel_agent(student_globals() | {"huge": lambda: "x" * (extract.MAX_STRING + 1)}).serve
    with pytest.raises(StudentCodeError, match="huge.*raised BoundaryError: string longer than"):
        student.huge()


# -- a sandbox that lies, hangs or dies ----------------------------------------------------------
@pytest.mark.parametrize(("reply", "match"), [
    ("not json", "returned something that cannot cross the boundary"),
    ('{"tree": {"__dict__": [5]}, "tensors": ""}', "returned something that cannot cross the boundary"),
    ('{"tree": {"__pickle__": "gASV"}, "tensors": ""}', "returned something that cannot cross the boundary"),
    (extract.encode([1, 2]), "the kernel sent a malformed answer"),
    (extract.encode({"value": 1}), "the kernel sent a malformed answer"),
    (extract.encode({"ok": "yes", "value": 1}), r"^double\(\.\.\.\) failed$"),
])
def test_a_forged_reply_is_the_students_error(reply: str, match: str) -> None:
    agent = kernel_agent(student_globals())
    student, kernel, _ = connect()
    double = student.double
    kernel.serve = lambda request: reply
    with pytest.raises(StudentCodeError, match=match):
        double(torch.ones(2))
    kernel.serve = agent.serve
    assert student.double(3) == 6  # one bad answer does not break the bridge


def test_replies_on_another_comm_or_to_another_request_are_ignored() -> None:
    student, kernel, _ = connect()
    forged = {"data": {"reply": extract.encode({"ok": True, "value": "forged"})}}

    def forge(msg_id: str, comm_id: str) -> list[dict]:
        return [
            {"parent_header": {"msg_id": msg_id}, "msg_type": "comm_msg", "content": {"comm_id": "mine", **forged}},
            {"parent_header": {"msg_id": "another"}, "msg_type": "comm_msg", "content": {"comm_id": comm_id, **forged}},
            {"parent_header": {"msg_id": "another"}, "msg_type": "status", "content": {"execution_state": "idle"}},
        ]

    kernel.forge = forge
    assert torch.equal(student.double(torch.ones(2)), torch.full((2,), 2.0))


def test_no_reply_means_the_notebook_broke_the_bridge() -> None:
    student, _, _ = connect(lambda request: None)
    with pytest.raises(StudentCodeError, match="no answer came back from the kernel; did the notebook overwrite"):
        student.double(1)


def test_a_call_that_hangs_is_interrupted_and_the_kernel_serves_the_next_call() -> None:
    student, kernel, killed = connect(call_timeout_s=0.3)
    double = student.double
    kernel.hang = True
    with pytest.raises(StudentTimeout, match=r"double\(\.\.\.\) did not return within 0.3 s"):
        double(1)
    assert not killed
    assert double(2) == 4


def test_a_call_that_cannot_be_interrupted_stops_the_kernel_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge_module, "INTERRUPT_GRACE_S", 0.2)
    student, kernel, killed = connect(call_timeout_s=0.3)
    double = student.double
    kernel.hang, kernel.interruptible = True, False
    with pytest.raises(StudentTimeout):
        double(1)
    assert killed == ["killed"]
    with pytest.raises(KernelGone, match="an earlier call did not return in time and the kernel was stopped"):
        double(2)


def test_a_kernel_that_dies_during_a_call_is_reported_as_such() -> None:
    student, kernel, _ = connect()
    double = student.double
    kernel.die = True
    with pytest.raises(KernelGone, match=r"^the kernel died while running double\(\.\.\.\)$"):
        double(1)
    with pytest.raises(KernelGone, match="could not be called: the kernel died while running double"):
        student.picky


# -- the same protocol in this process (the reference standing in for a student) ---------------
def test_in_process_the_namespace_is_reached_as_through_a_kernel() -> None:
    from grader.kernel.bridge import in_process_namespace

    namespace = student_globals()
    student = in_process_namespace(namespace)
    x = torch.arange(4.0)
    doubled = student.double(x)
    assert torch.equal(doubled, 2 * x)
    counter = student.Counter(10)
    assert isinstance(counter, RemoteObject) and counter.type_name == "Counter" and counter.add(5) == 15
    assert student.count_of(counter) == 15  # handles resolve to the object the agent kept
    assert student.cheat().type_name == "AlwaysEqual"  # objects stay behind handles here too
    namespace["kept"] = torch.zeros(2)
    student.kept.add_(1)  # values cross as copies: the test cannot change the notebook's
    assert torch.equal(namespace["kept"], torch.zeros(2))
    with pytest.raises(StudentCodeError, match="`attention` is not defined"):
        student.attention(x)
    with pytest.raises(StudentCodeError, match="picky.* raised ValueError: expected 4 values, got 3 at line 7"):
        student.picky(torch.ones(3))
