"""Write the report: blocks to Markdown and to one self-contained HTML file, run records to CSV."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from behave.report.document import Block, Bullets, Code, Figure, Heading, Paragraph, Table
from behave.report.records import RunRecord

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1150px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .88em; display: block; overflow-x: auto;
        max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .3em .55em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr:nth-child(even) td { background: #fafafa; }
code, pre { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: #f5f5f5; padding: .7em; overflow-x: auto; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .85em; color: #555; }
"""


def to_markdown(blocks: list[Block], out_dir: Path) -> str:
    """Markdown with figures linked relative to `out_dir` (where report.md is written)."""
    parts = [_markdown_block(block, out_dir) for block in blocks]
    return "\n\n".join(parts) + "\n"


def _markdown_block(block: Block, out_dir: Path) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Code):
        return f"```\n{block.text}\n```"
    if isinstance(block, Table):
        lines = [_markdown_row(block.header), _markdown_row(["---"] * len(block.header))]
        return "\n".join(lines + [_markdown_row(row) for row in block.rows])
    if isinstance(block, Figure):
        return f"![{block.caption}]({block.path.relative_to(out_dir).as_posix()})\n\n*{block.caption}*"
    raise TypeError(f"unknown block {block!r}")


def _markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _inline_html(text: str) -> str:
    """Escape, then turn the inline marks (`code`, **bold**, [text](link)) into tags; code first so its
    stars stay."""
    escaped = html.escape(text, quote=False)
    pieces = re.split(r"(`[^`]*`)", escaped)
    out = []
    for piece in pieces:
        if piece.startswith("`") and piece.endswith("`") and len(piece) >= 2:
            out.append(f"<code>{piece[1:-1]}</code>")
        else:
            piece = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", piece)
            out.append(re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', piece))
    return "".join(out)


def to_html(blocks: list[Block], title: str) -> str:
    """One HTML page with inline CSS and figures embedded as base64 PNG: nothing external to fetch."""
    body = "\n".join(_html_block(block) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{_inline_html(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Code):
        return f"<pre>{html.escape(block.text)}</pre>"
    if isinstance(block, Table):
        head = "".join(f"<th>{_inline_html(cell)}</th>" for cell in block.header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{_inline_html(cell)}</td>" for cell in row) + "</tr>" for row in block.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(block, Figure):
        encoded = base64.b64encode(block.path.read_bytes()).decode("ascii")
        caption = _inline_html(block.caption)
        return (
            f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(block.caption)}">'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    raise TypeError(f"unknown block {block!r}")


def results_frame(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run: identity, status, every test metric, costs, where it ran, and the error if any."""
    metric_names = sorted({name for record in records for name in record.test_metrics})
    rows = []
    for record in records:
        row = {
            "dataset": record.dataset_name,
            "fingerprint": record.fingerprint,
            "data_fingerprint": record.data_fingerprint,  # the same for every split of one dataset
            "model": record.model,
            "family": record.family,
            "seed": record.seed,
            "status": record.status,
        }
        row.update({name: record.test_metrics.get(name) for name in metric_names})
        for key in ("fit_seconds", "predict_seconds", "n_parameters"):
            row[key] = record.raw.get(key)
        row.update({"run_dir": str(record.run_dir), "error": record.error})
        rows.append(row)
    if not rows:
        return pd.DataFrame(rows)
    return pd.DataFrame(rows).sort_values(["dataset", "model", "seed"], kind="stable", na_position="last")


TITLE = "behave comparison report"


def write_outputs(
    front: list[Block], sections: list[tuple[str, list[Block]]], records: list[RunRecord], out_dir: Path
) -> list[Path]:
    """Write report.md (everything), report.html and results.csv into `out_dir`; return their paths.

    With one dataset report.html is the whole report. With several it is the index (the answer, the view
    across datasets, a link per dataset) and each dataset gets its own page, report-<slug>.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, page, csv = out_dir / "report.md", out_dir / "report.html", out_dir / "results.csv"
    everything = front + [block for _, blocks in sections for block in blocks]
    markdown.write_text(to_markdown(everything, out_dir), encoding="utf-8")
    written = [markdown, page, csv]
    if len(sections) <= 1:
        page.write_text(to_html(everything, TITLE), encoding="utf-8")
    else:
        links = []
        for name, blocks in sections:
            file = out_dir / f"report-{name}.html"
            back = Paragraph("[All datasets: the answer and the view across them](report.html)")
            file.write_text(to_html([back, *blocks], f"{TITLE}: {name}"), encoding="utf-8")
            links.append(f"[{name}]({file.name})")
            written.append(file)
        index = front + [Heading("One page per dataset", 2), Bullets(links)]
        page.write_text(to_html(index, TITLE), encoding="utf-8")
    results_frame(records).to_csv(csv, index=False)
    return written
