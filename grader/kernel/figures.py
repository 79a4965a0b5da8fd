"""The figures a notebook drew, kept for the TA's student page: checked here, in the trusted process.

A figure reaches the grader as a display output of a cell (matplotlib's `plt.show()` under
the Agg backend, or `display(fig)`): base64 text for image/png, markup for image/svg+xml,
inside the kernel's JSON messages. Everything about it is hostile. What is kept:
- a PNG only if its base64 decodes strictly and the bytes start with the PNG signature;
- an SVG only as bytes that a page shows through <img src="data:image/svg+xml;base64,...">,
  where browsers run no script and load nothing; it is never inlined as markup;
- at most MAX_FIGURES, each at most MAX_FIGURE_BYTES decoded, the first ones drawn;
and `data` is always base64 re-encoded here, so a page embeds only [A-Za-z0-9+/=].
"""

from __future__ import annotations

import base64
import binascii

from grader.models import Figure

MAX_FIGURES = 8
MAX_FIGURE_BYTES = 256 * 1024  # a matplotlib figure at the default size and dpi: 20-60 KiB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIMES = ("image/png", "image/svg+xml")  # in order of preference when an output carries both


def candidate(data: object) -> tuple[str, object] | None:
    """The image of one display output's data bundle (mime, raw value), or None."""
    if not isinstance(data, dict):
        return None
    for mime in MIMES:
        if mime in data:
            return mime, data[mime]
    return None


def figure(cell: int, mime: str, raw: object) -> Figure | None:
    """A Figure from one output's raw value, or None when it is not a sound image within the caps."""
    if isinstance(raw, list):  # nbformat may store text as a list of lines
        raw = "".join(part for part in raw if isinstance(part, str))
    if not isinstance(raw, str) or len(raw) > 2 * MAX_FIGURE_BYTES:
        return None
    if mime == "image/png":
        try:
            blob = base64.b64decode("".join(raw.split()), validate=True)
        except (binascii.Error, ValueError):
            return None
        if not blob.startswith(PNG_SIGNATURE):
            return None
    elif mime == "image/svg+xml":
        blob = raw.encode("utf-8", "replace")
        if b"<svg" not in blob[:4096]:
            return None
    else:
        return None
    if len(blob) > MAX_FIGURE_BYTES:
        return None
    return Figure(cell=cell, mime=mime, data=base64.b64encode(blob).decode("ascii"))


class FigureCollector:
    """Figures as the outputs arrive (before the output cap may drop them from the notebook)."""

    def __init__(self) -> None:
        self.figures: list[Figure] = []
        self.dropped = 0  # over the count or the size cap, or not an image at all

    def offer(self, cell: int, data: object) -> None:
        found = candidate(data)
        if found is None:
            return
        kept = figure(cell, *found) if len(self.figures) < MAX_FIGURES else None
        if kept is None:
            self.dropped += 1
        else:
            self.figures.append(kept)
