"""User-supplied text inside markdown documents, and their YAML front matter.

A record's text (a title, a problem statement, a name) goes into a document whose structure an auditor
relies on: the headings, the ticked boxes, the tables and the front-matter keys. Text rendered through
these functions can never add to that structure: it cannot start a heading, a list item, a checkbox, a
table row, a block quote, a code block, an HTML block or a front-matter line, whatever newlines and
markdown it holds. Ordinary text comes out as written.

- ``md_inline``: text inside one line (a heading, a list item, a table cell): newlines become spaces.
- ``md_block``: a paragraph of its own (a section's body): lines kept, each line made plain text.
- ``front_matter``: the YAML front matter, written by PyYAML (quoting and escaping are its job).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import yaml

# Bidirectional controls can make text read differently from what it says ("Trojan Source"); an audit
# document shows them as visible code points instead.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
# Characters that start inline markup (emphasis, code, links, images, HTML, entities, GFM tables and
# strikethrough, a heading's closing sequence); a backslash makes each a literal character.
INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~&])")
# What may open a block at the start of a line once the inline characters are escaped: list markers,
# setext underlines, ordered-list numbers, and a colon (definition lists in some renderers).
LINE_START = re.compile(r"^([-+=:])|^(\d{1,9})([.)])")


def clean_text(value) -> str:
    """One string: line breaks normalised to ``\\n``, control characters and bidi controls made visible."""
    text = LINE_BREAKS.sub("\n", "" if value is None else str(value))
    out = []
    for ch in text:
        if ch in BIDI_CONTROLS:
            out.append(f"⟦U+{ord(ch):04X}⟧")
        elif ch not in "\n\t" and unicodedata.category(ch) in ("Cc", "Cs"):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def _escape_line(line: str) -> str:
    line = INLINE_SPECIAL.sub(r"\\\1", line.strip())
    return LINE_START.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}", line)


def md_inline(value) -> str:
    """Text that stays inside its line: one line, every markup character escaped."""
    return _escape_line(" ".join(clean_text(value).split()))


def md_block(value) -> str:
    """A section's body: its lines kept, each one plain text (never a heading, list, table or code)."""
    lines = [_escape_line(" ".join(line.split())) for line in clean_text(value).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


class DoubleQuoted(str):
    """A front-matter value written in double quotes, as the procedure's templates show titles."""


class _FrontMatterDumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        # The templates indent list items under their key ("tags:\n  - emergency").
        return super().increase_indent(flow, False)


def _double_quoted(dumper: yaml.SafeDumper, data: DoubleQuoted):
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')


_FrontMatterDumper.add_representer(DoubleQuoted, _double_quoted)


def _clean_values(value):
    if isinstance(value, dict):
        return {key: _clean_values(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_values(v) for v in value]
    if isinstance(value, DoubleQuoted):
        return DoubleQuoted(clean_text(value))
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int | float | date):
        return value
    return clean_text(value)


def front_matter(data: dict) -> str:
    """``---``, the mapping as YAML (keys in the order given), ``---``."""
    body = yaml.dump(
        _clean_values(data),
        Dumper=_FrontMatterDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1_000_000,
    )
    return f"---\n{body}---\n"
