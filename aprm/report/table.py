"""A table model rendered both to Markdown and to HTML, so both reports show the same numbers."""

from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, row in enumerate(self.rows):
            if len(row) != len(self.header):
                raise ValueError(f"table {self.title!r} row {i}: {len(row)} cells, "
                                 f"header has {len(self.header)}")


def _md_cell(text: str) -> str:
    """Pipes would end the cell and newlines the row: escape / flatten them."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")


def to_markdown(table: Table, *, with_title: bool = False, with_notes: bool = True) -> str:
    lines = [f"### {_md_cell(table.title)}", ""] if with_title else []
    lines.append("| " + " | ".join(_md_cell(h) for h in table.header) + " |")
    lines.append("|" + "|".join("---" for _ in table.header) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if with_notes and table.notes:
        lines.append("")
        lines += [f"- {_md_cell(note)}" for note in table.notes]
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>\n"
                   for row in table.rows)
    notes = "".join(f"<li>{esc(n)}</li>" for n in table.notes)
    return (f"<h3>{esc(table.title)}</h3>\n<table>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}</tbody>\n</table>\n"
            + (f"<ul class=\"notes\">{notes}</ul>\n" if notes else ""))
