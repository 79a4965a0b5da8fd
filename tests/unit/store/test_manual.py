"""grader/store/manual.py on SQLite and on PostgreSQL: answers stored with results, compare-and-set
saves (two TAs, two sessions: the second sees a conflict), regrades need a reason, every change an
event, the queue with claims, and manual points applied when grades are read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from grader.errors import GradeError
from grader.store.gradebook import Gradebook
from grader.store.manual import ManualGradeConflict
from tests.factories import make_manual_grade_of
from tests.postgres import fresh_database

ANSWER = "Because the variance grows with d_k."


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh gradebook URL, once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "grades.db")
    return fresh_database(request.getfixturevalue("postgres_url"), f"manual_{request.node.name[-40:].lower()}"
                          .replace("[", "_").replace("]", "").replace("-", "_"))


@pytest.fixture
def book(db: str) -> Iterator[Gradebook]:
    with Gradebook(db) as opened:
        run = opened.start_run({})
        opened.record(run, make_manual_grade_of("alice"))
        opened.record(run, make_manual_grade_of("bob", answers={"why_scale": None}))
        opened.finish_run(run)
        yield opened


def test_answers_are_stored_with_each_result_and_read_from_the_latest(book: Gradebook) -> None:
    alice = book.manual.answer("alice", "05_attention_mechanism", "why_scale")
    assert alice is not None and alice.text == ANSWER and alice.part_name == "Why scale by sqrt(d_k)?"
    bob = book.manual.answer("bob", "05_attention_mechanism", "why_scale")
    assert bob is not None and bob.text is None  # none handed in
    assert book.manual.answer("alice", "05_attention_mechanism", "nope") is None
    assert book.manual.answer("carol", "05_attention_mechanism", "why_scale") is None

    book.record(book.start_run({}), make_manual_grade_of("alice", answers={"why_scale": "A new answer"}))
    assert book.manual.answer("alice", "05_attention_mechanism", "why_scale").text == "A new answer"
    (grade,) = [g for g in book.latest_grades() if g.student == "alice"]
    assert [(m.part.answer, m.answer) for m in grade.manual] == [("why_scale", "A new answer")]


def test_a_first_save_grades_the_part_and_the_read_model_adds_its_points(book: Gradebook) -> None:
    (before,) = [g for g in book.latest_grades() if g.student == "alice"]
    assert before.awaiting_manual and before.score == 5.0 and before.max_score == 9.0

    saved = book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance", "wrong_claim"],
                             adjustment=0.5, comment="Good start.", by="tom", expected_version=0)

    assert (saved.items, saved.points, saved.version, saved.graded_by) == (("variance", "wrong_claim"), 1.5, 1, "tom")
    assert [i.description for i in saved.applied][0] == "Dot products of d_k-dim vectors have variance d_k"
    assert book.manual.get("alice", "05_attention_mechanism", "why_scale") == saved
    (after,) = [g for g in book.latest_grades() if g.student == "alice"]
    assert not after.awaiting_manual and after.score == 6.5 and after.manual_points == 1.5
    assert after.manual[0].grade == saved and after.final_score == 6.5
    (bob,) = [g for g in book.latest_grades() if g.student == "bob"]
    assert not bob.awaiting_manual and bob.score == 5.0  # nothing handed in: 0 points, nobody waits on it


def test_the_points_are_clamped_and_stored_so_a_rubric_edit_does_not_rewrite_them(book: Gradebook) -> None:
    saved = book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance", "saturation"],
                             adjustment=3, comment="", by="tom", expected_version=0)
    assert saved.points == 4.0  # the part's maximum
    edited = make_manual_grade_of("alice")
    part = edited.manual[0].part
    from dataclasses import replace
    from grader.models import RubricItem
    edited = replace(edited, manual=(replace(edited.manual[0], part=replace(part, items=(
        RubricItem("variance", 1.0, "changed"), RubricItem("saturation", 5.0, "changed")))),))
    book.record(book.start_run({}), edited)
    assert book.manual.get("alice", "05_attention_mechanism", "why_scale").points == 4.0
    assert book.manual.get("alice", "05_attention_mechanism", "why_scale").applied[0].description.startswith("Dot")


def test_an_unknown_item_or_part_is_refused_with_the_known_ones(book: Gradebook) -> None:
    with pytest.raises(GradeError, match="no item 'typo'.*variance, saturation, wrong_claim"):
        book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["typo"], adjustment=0, comment="",
                         by="tom", expected_version=0)
    with pytest.raises(GradeError, match="no manual part 'nope'"):
        book.manual.save("alice", "05_attention_mechanism", "nope", items=[], adjustment=0, comment="", by="tom",
                         expected_version=0)
    with pytest.raises(GradeError, match="adjustment must be a number"):
        book.manual.save("alice", "05_attention_mechanism", "why_scale", items=[], adjustment=float("nan"),
                         comment="", by="tom", expected_version=0)
    assert book.manual.get("alice", "05_attention_mechanism", "why_scale") is None and book.events() == []


def test_two_tas_saving_the_same_first_grade_the_second_sees_the_first(db: str, book: Gradebook) -> None:
    with Gradebook(db) as other:  # a second TA: another process, another session
        mine = book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0,
                                comment="mine", by="tom", expected_version=0)
        with pytest.raises(ManualGradeConflict, match="saved by tom \\(version 1\\)") as caught:
            other.manual.save("alice", "05_attention_mechanism", "why_scale", items=["saturation"], adjustment=0,
                              comment="theirs", by="ana", expected_version=0)
    assert caught.value.current == mine
    assert book.manual.get("alice", "05_attention_mechanism", "why_scale") == mine


def test_a_regrade_needs_a_reason_and_the_version_shown(db: str, book: Gradebook) -> None:
    first = book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0,
                             comment="", by="tom", expected_version=0)
    with pytest.raises(GradeError, match="regrade needs a reason"):
        book.manual.save("alice", "05_attention_mechanism", "why_scale", items=[], adjustment=0, comment="",
                         by="ana", expected_version=1, reason="  ")
    with Gradebook(db) as other:
        again = other.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance", "saturation"],
                                  adjustment=0, comment="both", by="ana", expected_version=1, reason="student asked")
        with pytest.raises(ManualGradeConflict) as caught:  # tom's page still shows version 1
            book.manual.save("alice", "05_attention_mechanism", "why_scale", items=[], adjustment=0, comment="",
                             by="tom", expected_version=1, reason="stale page")
    assert again.version == 2 and again.points == 4.0 and caught.value.current == again
    with pytest.raises(ManualGradeConflict, match="has no grade") as caught:
        book.manual.save("bob", "05_attention_mechanism", "why_scale", items=[], adjustment=0, comment="",
                         by="tom", expected_version=3, reason="a page from nowhere")
    assert caught.value.current is None
    assert first.version == 1

    regrade, manual = book.events(student="alice")
    assert (manual.kind, manual.actor, manual.before, manual.after["points"]) == ("manual", "tom", None, 2.0)
    assert (regrade.kind, regrade.actor, regrade.reason) == ("regrade", "ana", "student asked")
    assert regrade.before["points"] == 2.0 and regrade.before["version"] == 1
    assert regrade.after["points"] == 4.0 and regrade.after["items"] == ["variance", "saturation"]
    assert regrade.at >= manual.at and regrade.part == "why_scale"


def test_concurrent_saves_from_two_threads_one_wins(db: str, book: Gradebook) -> None:
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=[], adjustment=0, comment="",
                     by="tom", expected_version=0)
    barrier, outcomes = threading.Barrier(2), []
    # Opened here: opening migrates, and Alembic's module-level proxies are not for threads.
    books = {who: Gradebook(db) for who in ("ana", "ben")}

    def save(who: str) -> None:
        barrier.wait()
        try:
            books[who].manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0,
                                   comment=who, by=who, expected_version=1, reason="second look")
            outcomes.append("saved")
        except ManualGradeConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(who,)) for who in books]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for opened in books.values():
            opened.close()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert book.manual.get("alice", "05_attention_mechanism", "why_scale").version == 2
    assert [e.kind for e in book.events()] == ["regrade", "manual"]


def test_the_queue_lists_every_part_with_its_grade_and_fresh_claims(book: Gradebook) -> None:
    book.manual.claim("bob", "05_attention_mechanism", "why_scale", "ana")
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0, comment="",
                     by="tom", expected_version=0)

    alice, bob = book.manual.queue()
    assert (alice.student, alice.has_answer, alice.grade.points, alice.claimed_by) == ("alice", True, 2.0, None)
    assert (bob.student, bob.has_answer, bob.grade, bob.claimed_by) == ("bob", False, None, "ana")
    assert bob.part_name == "Why scale by sqrt(d_k)?" and not alice.stale
    assert book.manual.queue("01_neural_networks") == []

    book.manual.claim("bob", "05_attention_mechanism", "why_scale", "ana")  # the same TA again: no new event
    book.manual.claim("bob", "05_attention_mechanism", "why_scale", "ben")
    claims = [e for e in book.events() if e.kind == "claim"]
    assert [(e.before, e.after) for e in claims] == [({"claimed_by": "ana"}, {"claimed_by": "ben"}),
                                                    (None, {"claimed_by": "ana"})]


def test_a_claim_older_than_half_an_hour_shows_as_free(book: Gradebook, monkeypatch: pytest.MonkeyPatch) -> None:
    import grader.store.manual as manual
    from grader.store.engine import now

    moment = now() - timedelta(minutes=31)
    monkeypatch.setattr(manual, "now", lambda: moment)
    book.manual.claim("alice", "05_attention_mechanism", "why_scale", "ana")
    monkeypatch.undo()
    assert [e.claimed_by for e in book.manual.queue()] == [None, None]


def test_a_new_answer_after_grading_awaits_manual_grading_again(book: Gradebook) -> None:
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0, comment="",
                     by="tom", expected_version=0)
    book.record(book.start_run({}), make_manual_grade_of("alice", answers={"why_scale": "rewritten"}))
    (grade,) = [g for g in book.latest_grades() if g.student == "alice"]
    assert grade.manual[0].stale and grade.awaiting_manual and grade.score == 7.0  # the old points still show
    assert [e.stale for e in book.manual.queue()] == [True, False]


def test_re_recording_a_grade_read_back_never_stores_the_manual_points(book: Gradebook) -> None:
    """`grade policy` records grades it read: the TA's points are applied on read, never stored."""
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0, comment="",
                     by="tom", expected_version=0)
    (stored,) = [r for r in book.latest_results() if r.grade.student == "alice"]
    assert stored.grade.score == 7.0
    book.record(book.start_run({}), stored.grade, reused_from=stored.result_id)
    (again,) = [g for g in book.latest_grades() if g.student == "alice"]
    assert again.score == 7.0 and again.manual[0].answer == ANSWER


def test_an_override_is_an_event_and_counts_the_manual_points(book: Gradebook) -> None:
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0, comment="",
                     by="tom", expected_version=0)
    made = book.add_override("alice", "05_attention_mechanism", None, 8.0, reason="bonus", created_by="prof")
    assert made.original_points == 7.0
    (event, _) = book.events(student="alice")
    assert (event.kind, event.actor, event.part, event.before, event.reason) == (
        "override", "prof", None, {"points": 7.0}, "bonus")
    assert event.after == {"points": 8.0, "override": made.id}
    assert book.events(assignment="01_neural_networks") == [] and len(book.events(limit=1)) == 1


def test_the_revision_changes_with_every_save(book: Gradebook) -> None:
    first = book.revision()
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=[], adjustment=0, comment="",
                     by="tom", expected_version=0)
    second = book.revision()
    book.manual.save("alice", "05_attention_mechanism", "why_scale", items=["variance"], adjustment=0, comment="",
                     by="tom", expected_version=1, reason="second look")
    third = book.revision()
    assert len({first, second, third}) == 3
    book.manual.claim("alice", "05_attention_mechanism", "why_scale", "ana")  # opening an answer changes no page
    assert book.revision() == third
