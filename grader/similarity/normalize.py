"""Code as a sequence of normalised tokens, each traced back to where it was written.

Two students who share code but renamed its variables, rewrote its comments or changed its
spacing produce the same sequence: comments, docstrings and layout are dropped, string
literals become `S`, and every name the student chose (a variable, a parameter, a function,
a class, an attribute they assign, an import alias) becomes `V`. What they did not choose
stays as written: keywords, operators, numbers, builtins, module names, the library
functions and methods they call (`torch.einsum` is not `torch.matmul`), keyword arguments.

The text is only parsed (Python's `tokenize` and `ast`), never run: it is a student's.
"""

from __future__ import annotations

import ast
import functools
import io
import keyword
import re
import tokenize
from collections.abc import Collection
from dataclasses import dataclass

CHOSEN = "V"  # a name the student chose
STRING = "S"
_MAGIC = re.compile(r"^([ \t]*)([%!?].*)$", re.MULTILINE)  # IPython magics and shell lines: not Python
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
_STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, None}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)  # Python 3.12+: f-strings come in pieces
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


@dataclass(frozen=True)
class Token:
    """One normalised token and where its text lies in its cell's source."""

    text: str
    cell: int  # index into the document's cells
    start: int  # character offsets into that cell's source
    end: int


def blank_magics(source: str) -> str:
    """IPython lines (`%timeit`, `!pip`) turned into spaces, so offsets stay put and Python parses."""
    return _MAGIC.sub(lambda m: m[1] + " " * len(m[2]), source)


def chosen_names(sources: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    """(names, attributes) the author bound anywhere in these cells; a cell that does not parse adds none."""
    names: set[str] = set()
    attributes: set[str] = set()
    for source in sources:
        cell_names, cell_attributes = _cell_names(source)
        names |= cell_names
        attributes |= cell_attributes
    return frozenset(names), frozenset(attributes)


def _cell_names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    return _cached_cell_names(source) if len(source) <= 65536 else _parse_names(source)


@functools.lru_cache(maxsize=4096)  # the starter's cells recur in every notebook of a class
def _cached_cell_names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    return _parse_names(source)


def _parse_names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    names: set[str] = set()
    attributes: set[str] = set()
    try:
        tree = ast.parse(blank_magics(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset(), frozenset()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attributes.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return frozenset(names), frozenset(attributes)


def normalize(sources: list[str], *, skip: Collection[int] = ()) -> list[Token]:
    """Every cell's tokens in order, normalised, but those of the cells in `skip` (their names
    still count as chosen); a cell that stops tokenising keeps what came before."""
    names, attributes = chosen_names(sources)
    tokens: list[Token] = []
    for cell, source in enumerate(sources):
        if cell not in skip:
            tokens += _cell_tokens(cell, source, names, attributes)
    return tokens


def _cell_tokens(cell: int, source: str, names: frozenset[str], attributes: frozenset[str]) -> list[Token]:
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(row: int, col: int) -> int:
        return line_starts[min(row - 1, len(line_starts) - 1)] + col

    raw = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(blank_magics(source)).readline):
            raw.append(tok)
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        pass  # an unfinished cell: compare what tokenised
    out: list[Token] = []
    previous_type: int | None = None  # of the last significant token, to spot docstrings
    previous_text = ""
    depth = 0  # brackets: inside them, `name=` is a keyword argument
    in_def = False  # in a def header, `name=` is a parameter with a default
    fstring = 0
    skip_newline = False  # after a dropped docstring, its line's end goes too
    for index, tok in enumerate(raw):
        kind, text = tok.type, tok.string
        if skip_newline and kind == tokenize.NEWLINE:
            skip_newline = False
            continue
        if kind in _SKIPPED:
            continue
        if kind == _FSTRING_START:
            fstring += 1
            if fstring == 1:
                out.append(Token(STRING, cell, offset(*tok.start), offset(*tok.end)))
            continue
        if fstring:
            if kind == _FSTRING_END:
                fstring -= 1
                if not fstring:
                    out[-1] = Token(STRING, cell, out[-1].start, offset(*tok.end))
            continue
        start, end = offset(*tok.start), offset(*tok.end)
        if kind == tokenize.STRING:
            if previous_type in _STATEMENT_START and _next_type(raw, index) in (tokenize.NEWLINE, None):
                skip_newline = True
                continue  # a docstring, or a string on a line of its own: a comment in all but name
            norm = STRING
        elif kind == tokenize.NEWLINE:
            norm, in_def = ";", False
        elif kind == tokenize.INDENT:
            norm = "{"
        elif kind == tokenize.DEDENT:
            norm = "}"
        elif kind == tokenize.NAME:
            norm = _name(text, previous_text, _next_text(raw, index), names, attributes, depth > 0 and not in_def)
            in_def = in_def or text in ("def", "lambda")
        elif text == "," and _next_text(raw, index) in (")", "]", "}"):
            continue  # a trailing comma (a formatter adds them); `(x,)` loses its comma too, rarely telling
        else:
            norm = text
            if text in ("(", "[", "{"):
                depth += 1
            elif text in (")", "]", "}"):
                depth = max(0, depth - 1)
            elif text == ":" and depth == 0:
                in_def = False
        out.append(Token(norm, cell, start, end))
        previous_type, previous_text = kind, text
    return out


def _name(text: str, before: str, after: str, names: frozenset[str], attributes: frozenset[str],
          in_call: bool) -> str:
    if keyword.iskeyword(text):
        return text
    if before == ".":
        return CHOSEN if text in attributes else text  # self.w_q vs tensor.transpose
    if in_call and after == "=":
        return text  # a keyword argument: named by the function's author (dim=-1)
    if text in names:
        return CHOSEN
    return text  # a builtin, a module, a name from the library or the starter's imports


def _next_type(raw: list[tokenize.TokenInfo], index: int) -> int | None:
    for tok in raw[index + 1:]:
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            return None if tok.type == tokenize.ENDMARKER else tok.type
    return None


def _next_text(raw: list[tokenize.TokenInfo], index: int) -> str:
    for tok in raw[index + 1:]:
        if tok.type not in (tokenize.COMMENT, tokenize.NL):
            return tok.string
    return ""


__all__ = ["CHOSEN", "STRING", "Token", "blank_magics", "chosen_names", "normalize"]
