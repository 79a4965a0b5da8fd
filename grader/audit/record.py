"""An audit as plain data: the record `<course>/.grade/audit/<assignment>.json` (which
`grade validate` reads, comparing its hashes with the assignment's current ones) and
`grade audit --json FILE`. Serialised here and nowhere else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.audit.run import AuditReport, MutantResult, audit_dir

LOSS_BANDS = (0.1, 0.25, 0.5, 1.0)  # fractions of the maximum: how hard each caught mutant is punished


def _mutant(result: MutantResult) -> dict[str, Any]:
    m = result.mutant
    return {"id": m.id, "operator": m.operator, "description": m.description, "cell": m.cell, "line": m.line,
            "scope": m.scope, "diff": m.diff(), "tests": list(result.tests)}


def _costs(report: AuditReport, result: MutantResult) -> dict[str, Any]:
    """What a caught mutant costs: its part (where it lost most), the share of that part and of the notebook."""
    part = result.part
    return {"part": part.part if part else None, "part_lost": part.lost if part else 0.0,
            "part_points": part.points if part else 0.0, "share_of_part": round(part.share, 4) if part else 0.0,
            "share_of_notebook": round(report.share_of_notebook(result), 4),
            "part_losses": [{"part": p.part, "lost": p.lost, "points": p.points, "share": round(p.share, 4)}
                            for p in result.part_losses]}


def loss_bands(report: AuditReport) -> dict[str, int]:
    """How many caught mutants lose up to 10%, 25%, 50%, 100% of the maximum (each counted in its band)."""
    bands = {f"<= {int(b * 100)}%": 0 for b in LOSS_BANDS}
    for result in report.caught:
        fraction = result.points_lost / report.max_score if report.max_score else 1.0
        for band in LOSS_BANDS:
            if fraction <= band + 1e-9:
                bands[f"<= {int(band * 100)}%"] += 1
                break
    return bands


def to_dict(report: AuditReport) -> dict[str, Any]:
    return {
        "assignment": report.assignment,
        **{k: report.hashes[k] for k in ("tests_hash", "reference_hash", "rubric_hash")},
        "mutation_score": round(report.mutation_score, 4),
        "generated": report.generated,
        "audited": len(report.results),
        "sampled": report.sampled,
        "seed": report.seed,
        "operators": list(report.operators),
        "equivalent": len(report.equivalent),
        "graded": len(report.graded),
        "caught": len(report.caught),
        "max_score": report.max_score,
        "survivors": [_mutant(r) | {"parts": list(r.parts)} for r in report.survivors],
        "caught_mutants": [_mutant(r) | {"points_lost": r.points_lost, "failed_tests": list(r.failed_tests),
                                         "status": r.grade.status.value if r.grade else None} | _costs(report, r)
                           for r in report.caught],
        "caught_losing_under_10_percent": len(report.small_losses),
        "share_caught_losing_under_10_percent": round(len(report.small_losses) / len(report.caught), 4)
        if report.caught else 0.0,
        "equivalent_mutants": [_mutant(r) | {"why": r.why} for r in report.equivalent],
        "points_lost_bands": loss_bands(report),
        "by_operator": {name: dict(zip(("audited", "equivalent", "graded", "caught"), counts))
                        for name, counts in report.by_operator().items()},
        "reused": report.reused,
        "notes": list(report.notes),
        "seconds": round(report.seconds, 1),
        "jobs": report.jobs,
    }


def record_path(report: AuditReport, course_root: Path) -> Path:
    return course_root / ".grade" / "audit" / f"{report.assignment}.json"


def write_record(report: AuditReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(report), indent=1) + "\n")
    return path


__all__ = ["audit_dir", "loss_bands", "record_path", "to_dict", "write_record"]
