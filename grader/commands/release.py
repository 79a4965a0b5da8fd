"""`grade release`: write the student edition of the course (see grader/students/release.py)."""

from __future__ import annotations

from pathlib import Path

import click

from grader.commands.group import console, course_option, guard, main


@main.command("release")
@click.option("--out", "out", default="release", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="A new or empty folder.")
@course_option
@click.option("--grade-requirement", default=None,
              help="How students install grade, pinned (default: a wheel of this grade in the release's wheels/).")
@click.option("--release-repository", default="",
              help="owner/name of the repository students get the release from; CI then checks out the "
                   "public tests from it (with --release-ref) instead of trusting the student's copy.")
@click.option("--release-ref", default="", help="The tag or commit of --release-repository, e.g. v1.")
def release_command(out: Path, course_dir: Path, grade_requirement: str | None, release_repository: str,
                    release_ref: str) -> None:
    """Write the student edition: stripped notebooks, public tests, points, README, CI workflow."""
    from grader.kinds import load_course
    from grader.students.release import ReleaseOptions, build_release

    def release() -> None:
        options = ReleaseOptions(out=out, release_repository=release_repository, release_ref=release_ref)
        if grade_requirement:
            options = ReleaseOptions(out=out, grade_requirement=grade_requirement,
                                     release_repository=release_repository, release_ref=release_ref)
        result = build_release(load_course(course_dir), options)
        for assignment in result.assignments:
            console.print(f"  {assignment.notebook}: {assignment.total:g} points"
                          + (f", public tests in {assignment.tests}" if assignment.tests else "")
                          + (f", data {', '.join(assignment.data)}" if assignment.data else ""))
        if not grade_requirement:
            console.print("students install grade from the wheel in wheels/ (requirements.txt names it); "
                          "--grade-requirement installs it from elsewhere, e.g. 'grade @ git+https://github.com/ORG/grade@v0.2.0'")
        console.print(f"release written to {result.root} ({len(result.files)} files); "
                      f"public tests sha256 {result.public_tests_sha256}")

    guard(release)
