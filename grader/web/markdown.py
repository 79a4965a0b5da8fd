"""A student's written answer as HTML a TA can read, and nothing that runs.

markdown-it-py (CommonMark) with raw HTML off, so `<script>` and `<img onerror>` come out as
text; links only to http(s) and mailto (a `javascript:` or `data:` link stays text); images
are not rendered as images (an answer must not make the TA's browser fetch anything), only
their alt text and address, as a link. Jinja never escapes this string again: it is marked
safe here, after markdown-it escaped every piece of the student's text itself. The app's
Content-Security-Policy (script-src 'self') is the second wall.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

SCHEMES = frozenset({"http", "https", "mailto"})
MAX_CHARS = 20_000  # the contract's cap on a stored answer; rendering more is not our job


def link_allowed(url: str) -> bool:
    """Only absolute http(s) and mailto links: no javascript:, data:, vbscript:, relative paths
    (which would point into the app itself, e.g. at /logout) or protocol-relative //host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.scheme.lower() not in SCHEMES:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.validateLink = link_allowed  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("image", _image)
    return md


def _link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    token.attrSet("rel", "nofollow noopener noreferrer")
    token.attrSet("target", "_blank")
    return self.renderToken(tokens, idx, options, env)


def _image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    # No <img>: an answer may not make the browser load anything. Its alt text, and its
    # address as a plain link (validateLink already dropped any scheme but http(s)/mailto).
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    label = f"[image: {Markup.escape(alt)}]"
    if src and link_allowed(src):
        return f'<a href="{Markup.escape(src)}" rel="nofollow noopener noreferrer" target="_blank">{label}</a>'
    return label


_MD = _parser()


def render_answer(text: str) -> Markup:
    """The answer's markdown as safe HTML (see the module's docstring)."""
    return Markup(_MD.render(text[:MAX_CHARS]))
