"""The web app (`grade serve` with accounts) for a 600-student class: time to first byte of the
class overview, student pages, the grading queue, a manual part's list and the grading page,
logged in, and the pages' sizes.

A real SQLite gradebook is filled with factory grades (8 assignments per student, 10 tests
each; four manual parts: two written answers in 05, one in 04, the homework's REPORT.md, each
answer ~1-3 KB of markdown, 5 % handed in none), about 40 % of the answers graded by a TA; the
app is served by uvicorn in a thread on 127.0.0.1, a TA logs in through the form, and each
page is asked for N times over one keep-alive connection. The first request after start-up
reads the whole gradebook (the report's pages are cached per gradebook revision), so it is
reported apart. Last, TAs at work: another process saves a grade just before each overview
(then each student page), and the benchmark counts the pages that already show it. Opening a grading page claims the answer (a write), as in real use. Run:

    .venv/bin/python benchmarks/web_pages.py [--students 600] [--requests 50] [--seed 0]
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.models import ManualPart, ManualResult, RubricItem  # noqa: E402
from grader.reports.text import student_page  # noqa: E402
from grader.store.gradebook import Gradebook  # noqa: E402
from grader.web.app import create_app  # noqa: E402
from grader.web.server import running  # noqa: E402
from tests.factories import make_grade, make_test_result  # noqa: E402

ASSIGNMENTS = ["01_neural_networks", "02_cnns_basics", "03_rnns_sequences", "04_transformer_architecture",
               "05_attention_mechanism", "06_embeddings_tokenization", "07_huggingface_intro", "homework"]
PASSWORD = "benchmark password"
ITEMS = (RubricItem("core", 2, "States the core argument"), RubricItem("evidence", 2, "Backs it with a number or a plot"),
         RubricItem("precise", 1, "Uses the terms precisely"), RubricItem("vague", -1, "Vague or off-topic"))
MANUAL = {
    "04_transformer_architecture": (ManualPart("Why residual connections?", "why_residual", ITEMS),),
    "05_attention_mechanism": (ManualPart("Why scale by sqrt(d_k)?", "why_scale", ITEMS, ("See the lecture.",)),
                               ManualPart("What does the causal mask prevent?", "why_mask", ITEMS)),
    "homework": (ManualPart("Report: fine-tuning and evaluation", "REPORT.md", ITEMS + (
        RubricItem("error_analysis", 3, "An error analysis with examples"),)),),
}
PARAGRAPH = ("The dot product of two independent vectors with unit-variance entries has variance $d_k$, so the "
             "logits grow with the key dimension; **without scaling** the softmax saturates and its gradient "
             "vanishes. `scores / math.sqrt(d_k)` keeps the variance at one. ")


def answer(rng: random.Random) -> str | None:
    if rng.random() < 0.05:
        return None
    paragraphs = [PARAGRAPH * rng.randint(1, 3) for _ in range(rng.randint(1, 4))]
    return "\n\n".join(paragraphs + ["- one point\n- another point\n\n```python\nscores = q @ k.T\n```"])


def fill(db: Path, students: list[str], rng: random.Random) -> None:
    with Gradebook(db) as book:
        run = book.start_run({})
        for student in students:
            skill = rng.random()
            for assignment in ASSIGNMENTS:
                tests = tuple(
                    make_test_result(f"test_{assignment[:6]}_{i:02d}", "passed" if rng.random() < skill + 0.3 else "failed",
                                     message="" if rng.random() < 0.5 else "got 0.1, expected a tensor of shape (2, 3)")
                    for i in range(10)
                )
                manual = tuple(ManualResult(part, answer(rng)) for part in MANUAL.get(assignment, ()))
                book.record(run, make_grade(student, assignment, tests=tests, manual=manual))
        book.finish_run(run)
        book.accounts.add_user("tara", "ta", PASSWORD)
        book.accounts.add_user("theo", "ta", PASSWORD)
        for student in students:
            for assignment, parts in MANUAL.items():
                for part in parts:
                    if rng.random() < 0.4:
                        chosen = [i.id for i in part.items if rng.random() < 0.5]
                        book.manual.save(student, assignment, part.answer, items=chosen, adjustment=0.0,
                                         comment="Clear argument; say why the gradient vanishes.", by="theo",
                                         expected_version=0)


def log_in(conn: http.client.HTTPConnection) -> str:
    """Through the form, as a browser does; returns the Cookie header to send from then on."""
    conn.request("GET", "/login")
    page = conn.getresponse()
    body = page.read().decode()
    login_cookie = page.getheader("set-cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" value="([^"]+)"', body)[1]  # type: ignore[index]
    form = urlencode({"username": "tara", "password": PASSWORD, "csrf_token": token, "next": "/"})
    conn.request("POST", "/login", body=form, headers={"Cookie": login_cookie,
                                                       "Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    session = next(v for k, v in answer.getheaders() if k.lower() == "set-cookie" and v.startswith("grade_session="))
    assert answer.status == 303, answer.status
    return session.split(";")[0]


def timed(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[float, float, int]:
    """Seconds to the first byte (status line and headers in), seconds to the last, bytes."""
    return fetched(conn, path, cookie)[0]


def fetched(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[tuple[float, float, int], str]:
    """`timed`, and the page."""
    started = time.perf_counter()
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    first = time.perf_counter() - started
    body = response.read()
    assert response.status == 200, (path, response.status)
    return (first, time.perf_counter() - started, len(body)), body.decode()


def cell(overview: str, student: str, assignment: str) -> str:
    """The score in `student`'s cell for `assignment` of the overview's class table."""
    row = re.search(rf'>{re.escape(student)}</a></th>(.*?)</tr>', overview, re.S)
    assert row, f"no row for {student} in the overview"
    cells = re.findall(r'<span class="score">([^<]*)</span>', row[1])
    return cells[ASSIGNMENTS.index(assignment)]


def save(book: Gradebook, student: str, comment: str) -> None:
    """A TA's grade of `student`'s answer in 04, with points other than the grade it replaces."""
    current = book.manual.get(student, "04_transformer_architecture", "why_residual")
    adjustment = 1.0 if current is not None and current.points == 2.0 else 0.0  # "core" is 2 points
    book.manual.save(student, "04_transformer_architecture", "why_residual", items=["core"], adjustment=adjustment,
                     comment=comment, by="theo", expected_version=current.version if current else 0,
                     reason="benchmark")


def summary(name: str, samples: list[tuple[float, float, int]]) -> None:
    firsts = sorted(s[0] * 1000 for s in samples)
    p95 = firsts[max(0, round(0.95 * len(firsts)) - 1)]
    whole = statistics.median(s[1] * 1000 for s in samples)
    print(f"{name:<14} TTFB median {statistics.median(firsts):7.1f} ms  p95 {p95:7.1f} ms  "
          f"(whole response median {whole:.1f} ms; {statistics.median(s[2] for s in samples) / 1024:.0f} KiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=600)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None,
                        help="Keep the gradebook in this file, and reuse it when it is there (filling takes minutes).")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"seed {args.seed}; {args.students} students x {len(ASSIGNMENTS)} assignments, 10 tests each; "
          f"{args.requests} requests per page")

    with tempfile.TemporaryDirectory() as tmp:
        db = args.keep or Path(tmp) / "grade.db"
        students = [f"student_{i:04d}" for i in range(args.students)]
        started = time.perf_counter()
        if not db.exists():
            fill(db, students, rng)
            print(f"gradebook filled in {time.perf_counter() - started:.1f} s "
                  f"({db.stat().st_size / 2**20:.1f} MiB, {len(students) * len(ASSIGNMENTS)} results)")
        else:
            print(f"reusing {db} (filled by an earlier run with the same --students and --seed)")

        with running(create_app(str(db), secure_cookies=False, trust_proxy_header=None)) as url:
            up = time.perf_counter()
            where = urlsplit(url)
            conn = http.client.HTTPConnection(where.hostname, where.port, timeout=120)
            cookie = log_in(conn)
            logged_in = time.perf_counter() - up
            cold = timed(conn, "/", cookie)
            print(f"first overview after start-up (reads the gradebook): TTFB {cold[0] * 1000:.0f} ms, "
                  f"{cold[2] / 1024:.0f} KiB; asked {logged_in * 1000:.0f} ms after the server was up (the log in)")
            overview = [timed(conn, "/", cookie) for _ in range(args.requests)]
            pages = [timed(conn, "/" + student_page(rng.choice(students)), cookie) for _ in range(args.requests)]
            queue = [timed(conn, "/grading", cookie) for _ in range(args.requests)]
            part_list = [timed(conn, "/grading/05_attention_mechanism/why_scale", cookie) for _ in range(args.requests)]
            grading = [timed(conn, f"/grading/{assignment}/{quote(part.answer)}/{rng.choice(students)}", cookie)
                       for assignment, part in (rng.choice([(a, p) for a, ps in MANUAL.items() for p in ps])
                                                for _ in range(args.requests))]
            history = [timed(conn, "/history", cookie) for _ in range(args.requests)]
            # TAs at work: a grade saved (by another process) just before each overview, then each
            # student page; "fresh": the page already shows that save (the overview: the student's
            # score for 04 changed; the student page: the save's comment is on it)
            busy, busy_pages, fresh, fresh_pages = [], [], 0, 0
            saves = min(args.requests, 20)
            with Gradebook(db) as other:
                before = fetched(conn, "/", cookie)[1]
                for i in range(saves):
                    student = students[i]
                    save(other, student, f"benchmark save {i}")
                    sample, page = fetched(conn, "/", cookie)
                    busy.append(sample)
                    fresh += cell(page, student, "04_transformer_architecture") != cell(before, student, "04_transformer_architecture")
                    before = page
                    time.sleep(0.5)
                for i in range(saves):
                    student = students[saves + i]
                    save(other, student, f"benchmark save {saves + i}")
                    sample, page = fetched(conn, "/" + student_page(student), cookie)
                    busy_pages.append(sample)
                    fresh_pages += f"benchmark save {saves + i}" in page
                    time.sleep(0.5)
            conn.close()
        summary("overview", overview)
        summary("student page", pages)
        summary("queue", queue)
        summary("part list", part_list)
        summary("grading page", grading)
        summary("history", history)
        summary("overview, a grade saved just before each", busy)
        print(f"  of which showing that grade already: {fresh} of {len(busy)}")
        summary("student page, a grade of theirs saved just before each", busy_pages)
        print(f"  of which showing that grade already: {fresh_pages} of {len(busy_pages)}")
        for name, samples in (("overview", overview), ("queue", queue), ("part list", part_list),
                              ("grading page", grading), ("history", history)):
            print(f"{name} size: {samples[0][2]:,} bytes ({samples[0][2] / 2**10:.0f} KiB)")


if __name__ == "__main__":
    main()
