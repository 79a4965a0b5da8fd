"""Students' written answers as HTML: markdown rendered, raw HTML shown as text, links only to
http(s) and mailto, no image ever loaded."""

from __future__ import annotations

import re

import pytest

from grader.web.markdown import link_allowed, render_answer


@pytest.mark.parametrize("url, allowed", [
    ("https://pytorch.org/docs", True), ("http://example.org/a?b=c", True), ("mailto:ta@example.org", True),
    ("HTTPS://EXAMPLE.ORG", True), ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False),
    (" javascript:alert(1)", False), ("data:text/html,<script>alert(1)</script>", False), ("vbscript:x", False),
    ("/logout", False), ("//evil.example/x", False), ("relative/path", False), ("https://", False), ("file:///etc/passwd", False),
])
def test_only_absolute_web_and_mail_links(url: str, allowed: bool) -> None:
    assert link_allowed(url) is allowed


MARKDOWN_TAGS = {"p", "a", "strong", "em", "code", "pre", "h1", "h2", "h3", "ul", "ol", "li", "blockquote", "br", "hr"}


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>", "<iframe src=//evil>", '<div style="background:url(javascript:1)">',
    "[x](javascript:alert(1))", "[x](data:text/html;base64,PHNjcmlwdD4=)", "![x](javascript:alert(1))",
    "<details open ontoggle=alert(1)>", "```html\n<script>alert(1)</script>\n```", "`<b onclick=x>`",
])
def test_no_markup_of_the_student_survives(text: str) -> None:
    html = str(render_answer(text))
    tags = re.findall(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", html)
    assert {name for _, name, _ in tags} <= MARKDOWN_TAGS, html
    for _, name, attributes in tags:
        assert not re.search(r"\bon\w+=|style=|src=", attributes), html
        if name == "a" and attributes:
            assert re.match(r' href="(https?:|mailto:)', attributes), html


def test_markdown_itself_is_rendered() -> None:
    html = str(render_answer("# Why\n\n**variance** grows with `d_k`:\n\n- one\n- two\n\n[docs](https://pytorch.org)"))
    assert "<h1>Why</h1>" in html and "<strong>variance</strong>" in html and "<code>d_k</code>" in html
    assert "<li>one</li>" in html
    assert '<a href="https://pytorch.org" rel="nofollow noopener noreferrer" target="_blank">docs</a>' in html


def test_an_image_is_a_link_never_loaded() -> None:
    html = str(render_answer('![a "plot"](https://example.org/p.png) ![local](figure.png)'))
    assert "<img" not in html
    assert '<a href="https://example.org/p.png" rel="nofollow noopener noreferrer" target="_blank">[image: a &#34;plot&#34;]</a>' in html
    assert "![local](figure.png)" in html  # a relative address is no link: shown as written
