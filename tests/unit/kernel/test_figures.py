"""The figures a notebook drew: what of a display output is kept, checked in the trusted process."""

from __future__ import annotations

import base64

import pytest

from grader.kernel.figures import MAX_FIGURE_BYTES, MAX_FIGURES, FigureCollector, figure
from grader.models import Figure

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
SVG = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def test_a_png_is_kept_as_its_own_base64_reencoded() -> None:
    wrapped = b64(PNG)[:40] + "\n" + b64(PNG)[40:] + "\n"  # Jupyter may wrap base64 lines
    assert figure(3, "image/png", wrapped) == Figure(3, "image/png", b64(PNG))


@pytest.mark.parametrize("raw", [
    b64(b"GIF89a" + bytes(32)),  # not a PNG
    b64(PNG)[:-4] + "!!!!",  # not base64
    '" onerror="alert(1)',  # markup where base64 belongs
    b64(PNG + bytes(MAX_FIGURE_BYTES)),  # over the size cap
    12345,
])
def test_anything_but_a_png_within_the_cap_is_dropped(raw: object) -> None:
    assert figure(1, "image/png", raw) is None


def test_an_svg_is_kept_only_as_base64_bytes_for_an_img_never_as_markup() -> None:
    kept = figure(2, "image/svg+xml", SVG)
    assert kept is not None and "<" not in kept.data
    assert base64.b64decode(kept.data).decode() == SVG  # shown in <img>, its script never runs
    assert figure(2, "image/svg+xml", "<html><script>alert(1)</script></html>") is None
    assert figure(2, "text/html", SVG) is None


def test_the_collector_keeps_the_first_figures_up_to_the_cap_and_counts_the_rest() -> None:
    collector = FigureCollector()
    collector.offer(1, {"text/plain": "<Figure size 640x480>"})  # no image: not a figure, not dropped
    for cell in range(MAX_FIGURES + 2):
        collector.offer(cell, {"image/png": b64(PNG), "text/plain": "<Figure>"})
    collector.offer(99, {"image/png": "not base64 at all"})
    collector.offer(99, "not a bundle")
    assert [f.cell for f in collector.figures] == list(range(MAX_FIGURES))
    assert collector.dropped == 3
