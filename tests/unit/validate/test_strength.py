"""grader/validate/strength.py: reading `grade audit`'s record."""

from __future__ import annotations

import json
from pathlib import Path

from grader.validate.strength import audit_record_path, read_audit


def test_the_record_is_read_from_the_course_folder(tmp_path: Path) -> None:
    path = audit_record_path(tmp_path, "05_attention")
    assert path == tmp_path / ".grade" / "audit" / "05_attention.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"assignment": "05_attention", "tests_hash": "t", "reference_hash": "r",
                                "rubric_hash": "u", "mutation_score": 0.75, "survivors": [{}, {}]}))
    record = read_audit(path)
    assert record is not None
    assert (record.mutation_score, record.hashes, record.survivors) == (
        0.75, {"tests_hash": "t", "reference_hash": "r", "rubric_hash": "u"}, 2)


def test_a_missing_or_malformed_record_is_none(tmp_path: Path) -> None:
    assert read_audit(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text('{"mutation_score": "high"}')
    assert read_audit(tmp_path / "bad.json") is None
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read_audit(tmp_path / "list.json") is None


def test_the_records_caught_mutants_are_read_and_unreadable_entries_left_out(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"tests_hash": "t", "reference_hash": "r", "rubric_hash": "u", "mutation_score": 1,
                                "caught_mutants": [
                                    {"id": "m1", "operator": "arithmetic", "description": "+ became -", "scope": "f",
                                     "failed_tests": ["test_a"], "part_losses": [{"part": "A", "lost": 2.0}]},
                                    {"id": "m2", "scope": None, "failed_tests": ["test_b"]},
                                    {"id": "m3", "part_losses": [{"lost": 1}]}, "m4"]}))
    record = read_audit(path)
    assert record is not None
    assert [(c.id, c.label, c.scope, c.failed_tests, c.part_losses) for c in record.caught] == [
        ("m1", "arithmetic: + became -", "f", ("test_a",), {"A": 2.0}), ("m2", "?: ", "", ("test_b",), None)]
