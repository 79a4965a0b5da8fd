"""The homework's scorer forked warm (grader/homework/warm_scorer.py) against the cold bwrap start:
the same logits, the same messages, the same isolation, the same time limit, and nothing of one
scoring left for the next. Real sandbox, real templates, the demo's real models, in the students'
environment (the course's kernel Python), as `grade` scores them.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import textwrap
import threading
import time
from pathlib import Path

import pytest

from grader.course.config import load_course_config
from grader.course.environment import kernel_interpreter
from grader.homework.score import InferenceFailed, InferenceSettings, InferenceTimeout, run_inference
from grader.homework.warm_scorer import scorer_template
from grader.kernel.template import PR_SET_CHILD_SUBREAPER, close_templates
from grader.sandbox.bwrap import Limits, Sandbox, claim_slot, process_alive
from grader.sandbox.interpreter import Interpreter
from grader.sandbox.limits import GiB
from tests.conftest import REPO, requires_sandbox
from tests.unit.homework.test_validate import build_tiny_model, edit_json

pytestmark = [pytest.mark.sandbox, requires_sandbox]

LIMITS = Limits(submission_timeout_s=120, memory_bytes=2 * GiB)
TEXTS = ("a fine film, moving and funny", "a dull one, long and boring", "the plot made no sense at all",
         "great acting, weak script")
DEMO_MODELS = ("lea_finetuned", "max_undertrained")


@pytest.fixture(scope="module", autouse=True)
def _templates_end_with_this_module():  # type: ignore[no-untyped-def]
    """As in test_warm_kernels.py: this module's templates end here, and this process stops being a
    child subreaper."""
    yield
    close_templates()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture(scope="module")
def students_python() -> Interpreter:
    kernel = kernel_interpreter(load_course_config(REPO))
    return kernel or Interpreter.running()


@pytest.fixture()
def slot():  # type: ignore[no-untyped-def]
    number, lock = claim_slot()
    yield number
    os.close(lock)


def score(model: Path, slot: int, python: Interpreter, *, warm: bool, script: Path | None = None,
          run: InferenceSettings = InferenceSettings(timeout_s=120), hide: tuple[Path, ...] = ()):  # type: ignore[no-untyped-def]
    extra = {} if script is None else {"script": script}
    return run_inference(model, TEXTS, run, sandbox=Sandbox(slot, LIMITS, python), limits=LIMITS, warm=warm,
                         hide=hide, **extra)


def failure(model: Path, slot: int, python: Interpreter, *, warm: bool, **kw) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InferenceFailed) as info:
        score(model, slot, python, warm=warm, **kw)
    return str(info.value)


def probe_result(message: str) -> dict:
    """What a probe script reported: it writes its findings as status.json's error."""
    return json.loads(message.split("held-out set: ", 1)[1])


def demo_model(student: str) -> Path:
    model = REPO / "submissions" / student / "model"
    assert (model / "model.safetensors").is_file(), f"{model} is missing: build it with scripts/make_demo_models.py"
    return model


@pytest.mark.parametrize("student", DEMO_MODELS)
def test_warm_and_cold_give_the_same_logits(student: str, slot: int, students_python: Interpreter,
                                            caplog: pytest.LogCaptureFixture) -> None:
    model = demo_model(student)
    with caplog.at_level(logging.WARNING, logger="grade"):
        warm = score(model, slot, students_python, warm=True)
    assert "cold" not in caplog.text  # it was forked, not started through bwrap
    assert scorer_template(Sandbox(slot, LIMITS, students_python), 1, False) is not None
    cold = score(model, slot, students_python, warm=False)
    assert warm.logits == cold.logits  # the same Python, the same threads: bit for bit
    assert {k: warm.facts[k] for k in ("device", "dtype", "threads", "n")} == \
           {k: cold.facts[k] for k in ("device", "dtype", "threads", "n")}


def test_a_model_that_fails_gets_the_same_message_warm_and_cold(tmp_path: Path, slot: int,
                                                                students_python: Interpreter) -> None:
    model = build_tiny_model(tmp_path / "model")
    edit_json(model / "config.json", num_attention_heads=3)  # 32 is not a multiple of 3: loading raises
    warm, cold = (failure(model, slot, students_python, warm=w) for w in (True, False))
    assert warm == cold and "could not be run on the held-out set" in warm
    crash = tmp_path / "crash.py"  # no status.json: the message is the end of stderr
    crash.write_text("import sys\nprint('not this', flush=True)\ndef load():\n    raise ValueError('tokenizer.json is garbage')\nload()\n")
    warm, cold = (failure(model, slot, students_python, warm=w, script=crash) for w in (True, False))
    assert warm == cold, (warm, cold)
    assert "ValueError: tokenizer.json is garbage" in warm and "not this" not in warm and "runpy" not in warm
    quits = tmp_path / "quits.py"
    quits.write_text("import os\nos._exit(3)\n")
    warm, cold = (failure(model, slot, students_python, warm=w, script=quits) for w in (True, False))
    assert warm == cold and warm.endswith("exit 3")


def test_the_heldout_data_is_invisible_in_the_warm_child(tmp_path: Path, slot: int,
                                                         students_python: Interpreter) -> None:
    """test_homework.py's probe, forked: the course, the labels and held-out data inside the
    students' Python installation (masked) stay out of sight; the inputs are read-only."""
    labels = tmp_path / "private" / "heldout.csv"
    labels.parent.mkdir()
    labels.write_text("text,label\nsecret,1\n")
    in_sight = next(p / "pyvenv.cfg" for p in students_python.prefixes + (Path("/usr/lib/python3.11"),)
                    if (p / "pyvenv.cfg").is_file())  # a file of the installation the sandbox binds
    targets = [str(labels), str(REPO / "reference"), str(REPO / "rubrics"), str(REPO / "submissions"),
               str(in_sight), "/proc/1/cmdline"]
    probe = tmp_path / "probe.py"
    probe.write_text(textwrap.dedent(f"""
        import json, os, sys
        seen = {{}}
        for t in {targets!r}:
            try:
                seen[t] = 'dir' if os.path.isdir(t) else (open(t).read(200) if os.path.exists(t) else 'absent')
            except OSError as e:
                seen[t] = type(e).__name__
        try:
            open('/homework/model/config.json', 'a').write('x')
            seen['model_writable'] = True
        except OSError:
            seen['model_writable'] = False
        seen['uid'] = os.getuid()
        seen['n_texts'] = len(json.load(open('/homework/texts.json')))
        out = sys.argv[sys.argv.index('--out') + 1]
        os.makedirs(out, exist_ok=True)
        json.dump({{'ok': False, 'error': json.dumps(seen)}}, open(os.path.join(out, 'status.json'), 'w'))
    """))
    model = build_tiny_model(tmp_path / "model")
    seen = {}
    for warm in (True, False):
        seen[warm] = probe_result(failure(model, slot, students_python, warm=warm, script=probe, hide=(in_sight,)))
    assert seen[True].pop("/proc/1/cmdline") != seen[False].pop("/proc/1/cmdline")  # pid 1: the agent vs bwrap
    assert seen[True] == seen[False]
    got = seen[True]
    assert got.pop("n_texts") == len(TEXTS) and got.pop("model_writable") is False and got.pop("uid") >= 61000
    assert got.pop(str(in_sight)) in ("", "PermissionError")  # masked by /dev/null
    assert all(v in ("absent", "FileNotFoundError", "PermissionError") for v in got.values()), got


def test_a_model_past_its_time_limit_is_stopped_and_the_next_one_scores(tmp_path: Path, slot: int,
                                                                          students_python: Interpreter) -> None:
    """The script starts a process of its own, then sleeps: past the limit both are gone (the child's
    pid namespace dies with its pid 1), the template serves on, and the next model scores."""
    sleeper = tmp_path / "sleeps.py"
    sleeper.write_text(f"import subprocess, time\nsubprocess.Popen({SLEEP!r})\ntime.sleep(300)\n")
    model = build_tiny_model(tmp_path / "model")
    seen: list[str] = []
    watching = threading.Event()
    watcher = threading.Thread(target=_watch_for_sleep, args=(seen, watching), daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        with pytest.raises(InferenceTimeout, match="longer than 5 s"):
            score(model, slot, students_python, warm=True, script=sleeper, run=InferenceSettings(timeout_s=5))
    finally:
        watching.set()
        watcher.join()
    assert time.monotonic() - started < 30
    assert seen, "the script's own process never started"
    assert not any(_runs_sleep(pid) for pid in seen)
    template = scorer_template(Sandbox(slot, LIMITS, students_python), 1, False)
    assert template is not None and template.alive() and process_alive(template.process.pid)
    assert score(demo_model("lea_finetuned"), slot, students_python, warm=True).facts["n"] == len(TEXTS)


SLEEP = ["sleep", "300.4242"]  # a command line no other process on the host has


def _watch_for_sleep(seen: list[str], done: threading.Event) -> None:
    while not done.wait(0.05):
        seen += [pid for pid in os.listdir("/proc") if pid.isdigit() and pid not in seen and _runs_sleep(pid)]


def _runs_sleep(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == "\0".join(SLEEP).encode() + b"\0"
    except OSError:
        return False


def test_nothing_of_one_scoring_survives_into_the_next(tmp_path: Path, slot: int,
                                                       students_python: Interpreter) -> None:
    """One student's script leaves a file in /tmp and in its home, an environment variable, a module
    attribute and a monkeypatched torch function; the next scoring, on the same slot, sees none."""
    first = tmp_path / "first.py"
    first.write_text(textwrap.dedent("""
        import os, sys, torch, transformers
        open('/tmp/leak', 'w').write('A was here')
        open(os.path.expanduser('~/.leak'), 'w').write('A was here')
        os.environ['LEAK'] = 'A'
        torch.leak = 'A'
        transformers.AutoModelForSequenceClassification.leak = 'A'
        torch.nn.functional.softmax = lambda *a, **k: 'A'
        sys.path.append('/tmp')
        out = sys.argv[sys.argv.index('--out') + 1]
        os.makedirs(out, exist_ok=True)
        open(os.path.join(out, 'status.json'), 'w').write('{"ok": false, "error": "{}"}')
    """))
    second = tmp_path / "second.py"
    second.write_text(textwrap.dedent("""
        import json, os, sys, torch, transformers
        seen = {'tmp': os.path.exists('/tmp/leak'), 'home': os.path.exists(os.path.expanduser('~/.leak')),
                'env': os.environ.get('LEAK'), 'torch': getattr(torch, 'leak', None),
                'auto': getattr(transformers.AutoModelForSequenceClassification, 'leak', None),
                'softmax': torch.nn.functional.softmax.__name__, 'path': '/tmp' in sys.path}
        out = sys.argv[sys.argv.index('--out') + 1]
        os.makedirs(out, exist_ok=True)
        json.dump({'ok': False, 'error': json.dumps(seen)}, open(os.path.join(out, 'status.json'), 'w'))
    """))
    model = build_tiny_model(tmp_path / "model")
    failure(model, slot, students_python, warm=True, script=first)
    seen = probe_result(failure(model, slot, students_python, warm=True, script=second))
    assert seen == {"tmp": False, "home": False, "env": None, "torch": None, "auto": None, "softmax": "softmax",
                    "path": False}


def test_a_scorer_template_that_cannot_start_falls_back_to_cold_with_one_warning(
        tmp_path: Path, slot: int, caplog: pytest.LogCaptureFixture) -> None:
    """A Python without transformers (Debian's own): the template's imports fail, each model is scored
    cold (here by a probe that needs nothing), and the worker warns once, not once per model."""
    system = Interpreter(Path("/usr/bin/python3"), (Path("/usr"),))
    if not system.executable.exists():
        pytest.skip("no /usr/bin/python3")
    probe = tmp_path / "probe.py"
    probe.write_text("import os, sys\nout = sys.argv[sys.argv.index('--out') + 1]\nos.makedirs(out, exist_ok=True)\n"
                     "open(os.path.join(out, 'status.json'), 'w').write('{\"ok\": false, \"error\": \"ran\"}')\n")
    model = build_tiny_model(tmp_path / "model")
    with caplog.at_level(logging.WARNING, logger="grade"):
        for _ in range(2):
            assert failure(model, slot, system, warm=True, script=probe).endswith("held-out set: ran")
    warnings = [r.getMessage() for r in caplog.records if "template did not start" in r.getMessage()]
    assert len(warnings) == 1 and "starting sandboxed scorers cold" in warnings[0], caplog.text
    assert "ModuleNotFoundError" in warnings[0]
