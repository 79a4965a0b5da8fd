"""`grade env build|path`: the students' environment (course.yaml `packages:`) that sandboxed kernels run."""

from __future__ import annotations

from pathlib import Path

from grader.commands.group import console, course_option, guard, main


@main.group("env")
def env_group() -> None:
    """The students' environment: course.yaml's `packages:` plus the kernel, where grading runs notebooks."""


@env_group.command("build")
@course_option
def build_command(course_dir: Path) -> None:
    """Build the course's kernel environment; a no-op when it is already built."""
    from grader.course.config import load_course_config
    from grader.course.environment import build, for_course

    def run() -> None:
        environment = for_course(load_course_config(course_dir))
        if environment is None:
            console.print("course.yaml lists no `packages:`: kernels run in grade's own environment")
            return
        made = build(environment, say=console.print)
        console.print(f"{'built' if made else 'already built'}: {environment.folder}")

    guard(run)


@env_group.command("path")
@course_option
def path_command(course_dir: Path) -> None:
    """Print the kernel environment's folder (exit 1 when it is not built)."""
    from grader.course.config import load_course_config
    from grader.course.environment import for_course

    def run() -> None:
        environment = for_course(load_course_config(course_dir))
        if environment is None:
            console.print("course.yaml lists no `packages:`: kernels run in grade's own environment")
            return
        environment.interpreter()  # GradeError with the fix when it is not built
        print(environment.folder)

    guard(run)
