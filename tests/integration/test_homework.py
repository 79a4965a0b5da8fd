"""The homework through the real pipeline and sandbox: bad models each get a result with a
message and 0 points while the rest of the class is graded, held-out labels stay out of
the sandbox, inference has a time limit.

A small course is written to a temp folder: the real rubric with an instructor's held-out
CSV (60 reviews) and tighter limits, so tiny real models grade in seconds.
"""

from __future__ import annotations

import csv
import ctypes
import json
import shutil
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from grader.kinds import load_course
from grader.discover import discover
from grader.homework.data import load_heldout
from grader.homework.score import InferenceFailed, InferenceSettings, run_inference
from grader.kernel.template import PR_SET_CHILD_SUBREAPER, close_templates
from grader.models import Grade, Status
from grader.records import grade_to_record
from grader.options import GradingOptions
from grader.pipeline.pool import grade_class
from grader.sandbox.bwrap import Limits, Sandbox
from grader.store.gradebook import Gradebook
from tests.conftest import REPO, requires_sandbox
from tests.unit.homework.test_validate import build_tiny_model, edit_json

pytestmark = [pytest.mark.sandbox, requires_sandbox]
CANARY = "CANARY-held-out-labels-7f3a9c"


@pytest.fixture(scope="module", autouse=True)
def _templates_end_with_this_module():  # type: ignore[no-untyped-def]
    """The scorer templates warm runs start in this process end here (tests/integration/test_warm_kernels.py)."""
    yield
    close_templates()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def make_course(root: Path, **settings: object) -> Path:
    """A course with only the homework; held-out labels in a CSV that also carries a canary column."""
    (root / "rubrics").mkdir(parents=True)
    shutil.copytree(REPO / "reference" / "homework", root / "reference" / "homework")
    labels = root / "private" / "heldout.csv"
    labels.parent.mkdir()
    rubric = yaml.safe_load((REPO / "rubrics" / "homework.yaml").read_text())
    heldout = load_heldout(rubric["settings"], REPO)  # the course's (reference/homework/make_data.py)
    with open(labels, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "secret"])
        for text, label in list(zip(heldout.texts, heldout.labels))[:60]:
            writer.writerow([text, heldout.label_names[label], CANARY])
    rubric["settings"] = {k: v for k, v in rubric["settings"].items() if k not in ("train", "train_readme")}
    rubric["settings"] |= {"heldout": str(labels), "max_model_mb": 6} | settings
    (root / "rubrics" / "homework.yaml").write_text(yaml.safe_dump(rubric))
    return labels


def grade(course_root: Path, subs: Path, jobs: int = 2, warm: bool = True) -> dict[str, Grade]:
    course = load_course(course_root)
    with Gradebook(str(course_root / "g.db")) as store:
        result = grade_class(discover(subs, course), course, store,
                             GradingOptions(sandbox=True, limits=Limits(submission_timeout_s=120), jobs=jobs,
                                            warm_kernels=warm))
    return {g.student: g for g in result.grades}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Grade], Path]:
    root = tmp_path_factory.mktemp("homework")
    labels = make_course(root / "course")
    subs = root / "subs"
    valid = build_tiny_model(subs / "valid_tiny" / "model")

    def copy(student: str) -> Path:
        return Path(shutil.copytree(valid, subs / student / "model"))

    (subs / "no_model").mkdir(parents=True)
    (subs / "no_model" / "homework.ipynb").write_text("{}")
    (copy("pickle_only") / "model.safetensors").rename(subs / "pickle_only" / "model" / "pytorch_model.bin")
    edit_json(copy("auto_map") / "config.json", auto_map={"AutoModelForSequenceClassification": "m.M"})
    build_tiny_model(subs / "wrong_labels" / "model", num_labels=3)
    build_tiny_model(subs / "oversize" / "model", hidden=64)  # 7.8 MB of weights, the limit here is 6 MiB
    _nan(copy("nan_weights"))
    build_tiny_model(subs / "bad_tokenizer" / "model", vocab_size=1000)
    edit_json(copy("crashes_on_load") / "config.json", num_attention_heads=3)  # 32 is not a multiple of 3
    edit_json(copy("hostile_tokenizer") / "tokenizer_config.json", vocab_file=str(labels))
    (copy("hostile_link") / "labels.csv").symlink_to(labels)
    with zipfile.ZipFile(subs / "zipped.zip", "w") as archive:
        for file in sorted(valid.iterdir()):
            archive.write(file, f"zipped/model/{file.name}")
    return grade(root / "course", subs), labels


def _nan(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "model.safetensors")
    next(w for n, w in weights.items() if n.endswith("classifier.weight"))[0, 0] = float("nan")
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})


EXPECTED = {  # student -> (status, words the message must hold)
    "no_model": (Status.MISSING, "no model/ folder"),
    "pickle_only": (Status.REJECTED, "only pickled weights"),
    "auto_map": (Status.REJECTED, "auto_map"),
    "wrong_labels": (Status.REJECTED, "3 output labels, the task has 2"),
    "oversize": (Status.REJECTED, "over the limit of 6 MiB"),
    "nan_weights": (Status.REJECTED, "NaN"),
    "bad_tokenizer": (Status.REJECTED, "tokenizer does not match"),
    "crashes_on_load": (Status.ERROR, "could not be run on the held-out set"),
    "hostile_tokenizer": (Status.REJECTED, "vocab_file"),
    "hostile_link": (Status.REJECTED, "symbolic link"),
}


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_bad_model_gets_a_message_and_zero(graded: tuple[dict[str, Grade], Path], student: str) -> None:
    grades, _ = graded
    status, words = EXPECTED[student]
    got = grades[student]
    assert (got.status, got.score) == (status, 0.0), got.message
    assert words in got.message
    assert all(t.points == 0 for t in got.tests) and len(got.tests) == 3


@pytest.mark.parametrize("student", ["valid_tiny", "zipped"])
def test_valid_models_are_scored_with_metrics_and_split_hash(graded: tuple[dict[str, Grade], Path],
                                                             student: str) -> None:
    grades, labels = graded
    got = grades[student]
    assert got.status is Status.GRADED, got.message
    assert got.tests[0].test_id == "model_valid" and got.tests[0].points == 2
    measured = got.model_score
    assert measured is not None
    assert measured.n_heldout == 60 and measured.heldout == str(labels) and len(measured.split_hash) == 64
    assert measured.device == "cpu" and 0 <= measured.accuracy <= 1 and 0 <= measured.macro_f1 <= 1
    assert sum(map(sum, measured.confusion_matrix)) == 60
    assert got.score == round(sum(t.points for t in got.tests), 2)
    assert got.fingerprint.tests_hash  # the held-out split is part of what a grade is reused against


def test_no_result_carries_the_labels_canary(graded: tuple[dict[str, Grade], Path]) -> None:
    grades, _ = graded
    assert all(CANARY not in json.dumps(grade_to_record(g)) for g in grades.values())


@pytest.mark.parametrize("warm", [False, True], ids=["cold", "warm"])
def test_labels_cannot_be_read_from_inside_the_sandbox(tmp_path: Path, warm: bool) -> None:
    """The worst case: code of the student's choosing runs where the model is loaded. It finds
    the texts, but not the held-out CSV, the course, nor held-out data in a folder it would
    otherwise see (here a stand-in: a file of the Python installation, named as held-out data).
    Warm: the same code run by a child forked from the scorer's template."""
    labels = make_course(tmp_path / "course")
    probe = tmp_path / "probe.py"
    in_sight = Path(sys.prefix).resolve() / "pyvenv.cfg"
    if not in_sight.is_file():
        in_sight = Path(sys.base_prefix).resolve() / "include"
    targets = [str(labels), str(REPO / "reference"), str(REPO / "rubrics"), str(tmp_path / "course"),
               str(in_sight)]
    probe.write_text(
        "import json, os, sys\n"
        f"targets = {targets!r}\n"
        "seen = {}\n"
        "for t in targets:\n"
        "    try:\n"
        "        seen[t] = 'dir' if os.path.isdir(t) else (open(t).read(200) if os.path.exists(t) else 'absent')\n"
        "    except OSError as e:\n"
        "        seen[t] = type(e).__name__\n"
        "texts = json.load(open('/homework/texts.json'))\n"
        "try:\n"
        "    open('/homework/model/config.json', 'a').write('x')\n"
        "    seen['model_writable'] = True\n"
        "except OSError:\n"
        "    seen['model_writable'] = False\n"
        "seen['n_texts'] = len(texts)\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        "os.makedirs(out, exist_ok=True)\n"
        "json.dump({'ok': False, 'error': json.dumps(seen)}, open(os.path.join(out, 'status.json'), 'w'))\n"
    )
    model = build_tiny_model(tmp_path / "model")
    limits = Limits()
    with pytest.raises(InferenceFailed) as info:
        run_inference(model, ("a fine film", "a dull one"), InferenceSettings(timeout_s=60),
                      sandbox=Sandbox(7, limits), limits=limits, script=probe, hide=(in_sight,), warm=warm)
    seen = json.loads(str(info.value).split("held-out set: ", 1)[1])
    assert seen.pop("n_texts") == 2 and seen.pop("model_writable") is False
    assert seen.pop(str(in_sight)) in ("", "dir", "PermissionError")  # masked: /dev/null (nodev) or an empty tmpfs
    assert all(v in ("absent", "FileNotFoundError", "PermissionError") for v in seen.values()), seen
    assert CANARY not in str(info.value)


@pytest.mark.parametrize("start", ["warm", "cold"])
def test_inference_past_its_time_limit_is_a_timeout(tmp_path: Path, start: str) -> None:
    """A limit shorter than any start (a warm fork included, tests/integration/test_warm_scorer.py has a
    script that sleeps): the wall clock is enforced from here, either way."""
    make_course(tmp_path / "course", inference_timeout_s=0.01)
    build_tiny_model(tmp_path / "subs" / "slow" / "model")
    got = grade(tmp_path / "course", tmp_path / "subs", jobs=1, warm=start == "warm")["slow"]
    assert (got.status, got.score) == (Status.TIMEOUT, 0.0)
    assert "longer than 0.01 s" in got.message and got.duration_s < 60
