"""grader/course/manual_parts.py: a rubric's `manual:` parts, their points, and every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.course.rubric import ManualPart, RubricItem, load_rubric
from grader.errors import RubricError

RUBRIC = """
assignment: 05_attention_mechanism
parts:
  - name: Scaled dot-product attention
    tests: {test_scores: 2, test_softmax: 1.5}
  - name: "Why scale by sqrt(d_k)?"
    manual:
      answer: why_scale
      items:
        - {id: variance, points: 2, description: "Dot products of d_k-dim vectors have variance d_k"}
        - {id: saturation, points: 2, description: "Large logits saturate the softmax"}
        - {id: wrong_claim, points: -1, description: "Claims it speeds up training"}
      comments: ["See the lecture's variance argument."]
"""


def rubric_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "05.yaml"
    path.write_text(text)
    return path


def test_a_manual_part_is_read_with_its_items_comments_and_points(tmp_path: Path) -> None:
    rubric = load_rubric(rubric_file(tmp_path, RUBRIC))

    (part,) = rubric.manual_parts
    assert part == ManualPart(name="Why scale by sqrt(d_k)?", answer="why_scale", comments=(
        "See the lecture's variance argument.",), items=(
        RubricItem("variance", 2.0, "Dot products of d_k-dim vectors have variance d_k"),
        RubricItem("saturation", 2.0, "Large logits saturate the softmax"),
        RubricItem("wrong_claim", -1.0, "Claims it speeds up training")))
    assert part.max_points == 4.0  # deductions never raise the maximum
    assert [p.name for p in rubric.parts] == ["Scaled dot-product attention"]  # test parts only
    assert rubric.auto_max_score == 3.5 and rubric.max_score == 7.5
    assert set(rubric.tests) == {"test_scores", "test_softmax"}  # check_covers wants no tests for it


def test_a_manual_parts_points_are_clamped_between_zero_and_its_maximum(tmp_path: Path) -> None:
    (part,) = load_rubric(rubric_file(tmp_path, RUBRIC)).manual_parts
    variance, saturation, wrong = part.items
    assert part.points_for([variance], 0.0) == 2.0
    assert part.points_for([variance, saturation], 1.0) == 4.0
    assert part.points_for([wrong], 0.0) == 0.0
    assert part.points_for([variance, wrong], -0.5) == 0.5


def test_a_homework_report_is_a_file_answer(tmp_path: Path) -> None:
    text = RUBRIC.replace("answer: why_scale", "answer: REPORT.md")
    assert load_rubric(rubric_file(tmp_path, text)).manual_parts[0].answer == "REPORT.md"


@pytest.mark.parametrize("old, new, message", [
    ("answer: why_scale", "answer: ../secret", r"manual part 'Why scale by sqrt\(d_k\)\?'.*`answer`"),
    ("answer: why_scale", "answer: sub/REPORT.md", "`answer` must name"),
    ("      answer: why_scale\n", "", "`answer` must name"),
    ("{id: variance,", "{id: Variance,", "item id 'Variance'"),
    ("{id: saturation,", "{id: variance,", "item variance is listed twice"),
    ("points: 2, description: \"Dot", "points: two, description: \"Dot", "item variance needs a number"),
    ("points: 2, description: \"Dot", "points: true, description: \"Dot", "item variance needs a number"),
    ("description: \"Large logits saturate the softmax\"", "description: \"\"", "saturation needs a `description`"),
    ("points: 2, description: \"Dot", "points: -2, description: \"Dot", None),
    ("      comments: [\"See the lecture's variance argument.\"]", "      comments: see", "`comments` must be"),
    ("      answer: why_scale", "      answer: why_scale\n      points: 3", "unknown key"),
    ("    manual:\n", "    tests: {test_x: 1}\n    manual:\n", "has `tests:`"),
])
def test_a_bad_manual_part_is_a_rubric_error_naming_the_part(tmp_path: Path, old: str, new: str,
                                                              message: str | None) -> None:
    assert old in RUBRIC
    text = RUBRIC.replace(old, new)
    if message is None:  # a part whose positive items are gone: worth nothing, so refused
        text = text.replace("points: 2, description: \"Large", "points: -2, description: \"Large")
        message = "no item earns points"
    with pytest.raises(RubricError, match=message) as caught:
        load_rubric(rubric_file(tmp_path, text))
    assert "05.yaml" in str(caught.value)


def test_items_must_be_a_non_empty_list(tmp_path: Path) -> None:
    text = RUBRIC.split("      items:")[0] + "      items: []\n"
    with pytest.raises(RubricError, match=r"manual part .*`items` must list"):
        load_rubric(rubric_file(tmp_path, text))


def test_two_manual_parts_cannot_grade_the_same_answer(tmp_path: Path) -> None:
    second = RUBRIC.split("  - name: \"Why")[1].replace("Why scale", "Again")
    with pytest.raises(RubricError, match="answer 'why_scale' is graded by another manual part"):
        load_rubric(rubric_file(tmp_path, RUBRIC + "  - name: \"Why" + second))
