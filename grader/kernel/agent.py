"""The student-side end of the bridge: runs inside the sandboxed kernel.

Its source (together with `extract.py`) is sent into the kernel after the notebook
has run; `grader` itself is not importable there. It registers a comm target; each
comm message from the grader is one request: it resolves names in the student
namespace, calls them, and sends the encoded result back on the same comm.
Nothing here is trusted: a student may replace it, which changes only the values
their own code returns, never a verdict (verdicts are computed in the grader).
"""

import traceback

# This file and extract.py, by the names bridge.install compiles them under in the kernel, or as imported.
_OWN_FILES = ("<grade-agent>", "<grade-extract>")
_OWN_PATHS = ("grader/kernel/agent.py", "grader/kernel/extract.py")


class _Agent:
    def __init__(self, namespace, extract):
        self.namespace = namespace
        self.extract = extract
        self.objects = {0: namespace}
        self.next_id = 1

    def _handle(self, obj):
        for key, known in self.objects.items():
            if known is obj:
                return self.extract.Handle(key, type(obj).__name__)
        key = self.next_id
        self.next_id += 1
        self.objects[key] = obj
        return self.extract.Handle(key, type(obj).__name__)

    def _resolve(self, key, type_name):
        if key not in self.objects:
            raise LookupError(f"the grader referred to an object that no longer exists ({type_name})")
        return self.objects[key]

    def serve(self, request_text):
        """One request in, one encoded reply out; the student's errors become part of the reply."""
        self.step = None  # of a "methods" request: [index, "getattr" or "call"] of the one running
        try:
            request = self.extract.decode(request_text, self._resolve)
            value = self._perform(request)
            reply = self.extract.encode({"ok": True, "value": value}, self._handle)
        except BaseException as error:  # noqa: BLE001 - everything becomes a message to the grader
            described = _describe(error)
            if self.step is not None:
                described["step"] = self.step
            reply = self.extract.encode({"ok": False, "error": described})
        return reply

    def _perform(self, request):
        op = request["op"]
        target = request["target"]
        if op == "getattr":
            return self._getattr(target, request["name"])
        if op == "lookup":  # dotted paths, each resolved as a chain of getattr requests would be
            values = []
            for names in request["paths"]:
                value = target
                for name in names:
                    value = self._getattr(value, name)
                values.append(value)
            return values
        if op == "methods":  # target.name(*args, **kwargs) for each, in order, as getattr then call requests would
            values = []
            for index, (name, args, kwargs) in enumerate(request["calls"]):
                self.step = [index, "getattr"]
                method = self._getattr(target, name)
                self.step = [index, "call"]
                values.append(method(*args, **kwargs))
            self.step = None
            return values
        if op == "call":
            return target(*request["args"], **request["kwargs"])
        if op == "release":
            self.objects = {k: v for k, v in self.objects.items() if k == 0 or v is not target}
            return None
        raise ValueError(f"unknown bridge operation {op!r}")

    def _getattr(self, target, name):
        if target is self.namespace:
            if name not in self.namespace:
                raise NameError(f"name '{name}' is not defined")
            return self.namespace[name]
        return getattr(target, name)


def _describe(error):
    """Type, message and the student's own frames of an exception, as plain strings."""
    frames = traceback.extract_tb(error.__traceback__)
    student_frames = [f for f in frames if f.filename not in _OWN_FILES and not f.filename.endswith(_OWN_PATHS)]
    location = ""
    if student_frames:
        last = student_frames[-1]
        location = f"line {last.lineno}: {(last.line or '').strip()}"[:300]
    return {"type": type(error).__name__, "message": str(error)[:2000], "location": location}


def install(namespace, extract_source, comm_target):
    """Build the agent in the kernel and answer the grader's comm; called once, by source."""
    import types

    from comm import get_comm_manager

    extract = types.ModuleType("_grade_extract")
    exec(compile(extract_source, "<grade-extract>", "exec"), extract.__dict__)
    agent = _Agent(namespace, extract)

    def on_open(comm, open_msg):
        def on_request(msg):
            request = msg.get("content", {}).get("data", {}).get("request")
            comm.send({"reply": agent.serve(request if isinstance(request, str) else "")})

        comm.on_msg(on_request)

    get_comm_manager().register_target(comm_target, on_open)
    return agent
