"""The report as a list of plain blocks, so one builder feeds both the Markdown and the HTML renderer.

Text in Paragraph, Bullets and Table cells may use two inline marks, `**bold**` and `` `code` ``;
use `code_span` for untrusted text (error messages, paths) so it cannot break either format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Code:
    """A preformatted block (commands to reproduce a run)."""

    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str


Block = Heading | Paragraph | Bullets | Code | Table | Figure


def code_span(text: object, max_chars: int = 400) -> str:
    """Untrusted text as one inline code span: one line, no backticks or table pipes, length capped."""
    flat = " ".join(str(text).split()).replace("`", "'").replace("|", "/")
    if len(flat) > max_chars:
        flat = flat[: max_chars - 3] + "..."
    return f"`{flat}`"
