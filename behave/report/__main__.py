"""`behave-report PATHS... [--out DIR] [--reference auto|MODEL] [--n-boot 2000] [--seed 0]`.

Reads every result.json below PATHS (multirun folders, run folders or globs) and writes report.md,
a self-contained report.html, results.csv and figures/ into --out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from behave.report.across import across_blocks, summarize
from behave.report.compare import display_name
from behave.report.document import Block, Bullets, Figure, Heading, Paragraph
from behave.report.multiplicity import LABELS, Correction
from behave.report.records import RunRecord, expand_paths, group_by_dataset, load_records
from behave.report.render import write_outputs
from behave.report.sections import ReportOptions, count, dataset_section


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="behave-report", description="Compare the runs of a behave multirun: tables, statistics, plots."
    )
    parser.add_argument("paths", nargs="+", help="multirun folders, run folders, result.json files or globs")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: the first folder)")
    parser.add_argument(
        "--reference",
        default="auto",
        help="model the others are compared against (auto: the tabular model best on validation)",
    )
    parser.add_argument("--n-boot", type=int, default=2000, help="paired bootstrap draws per comparison")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument(
        "--rope",
        type=float,
        default=0.01,
        help="the difference that matters, in headline units: below it a verdict says 'too few test "
        "sequences' where its interval is wider; also the cross-dataset Bayesian test's region of practical "
        "equivalence",
    )
    parser.add_argument(
        "--correction",
        choices=[c.value for c in Correction],
        default=Correction.holm.value,
        help="adjust the p-values of all comparisons in a section together: holm (default; no false "
        "'beats' at 5%% over them all), bh (Benjamini-Hochberg false discovery rate) or none",
    )
    return parser.parse_args(argv)


def default_out_dir(paths: list[Path]) -> Path:
    """The first path if it is a folder, else the folder holding it."""
    first = paths[0]
    return first if first.is_dir() else first.parent


def build_report(
    records: list[RunRecord], out_dir: Path, options: ReportOptions
) -> tuple[list[Block], list[tuple[str, list[Block]]]]:
    """(the front: header, answer, view across datasets; [(page name, blocks)] one per dataset and task)."""
    groups = group_by_dataset(records)
    n_ok = sum(r.ok for r in records)
    blocks: list[Block] = [
        Heading("behave comparison report", 1),
        Paragraph(
            f"{count(len(records), 'run')} ({n_ok} ok, {len(records) - n_ok} failed) "
            f"on {count(len(groups), 'dataset')}. "
            f"Reference model: {options.reference}; {options.n_boot} bootstrap draws, seed {options.seed}; "
            f"p-values adjusted over each section's comparisons: {LABELS[options.correction]}."
        ),
    ]
    sections = [dataset_section(group, out_dir, options) for group in groups.values()]
    answers = [section.answer for section in sections]
    across = summarize(groups, options.reference, options.rope)
    if across is not None:
        leader = across.ranks.mean().idxmin()
        answers.append(
            f"Across {len(across.scores)} datasets, {display_name(leader)} has the best average rank "
            f"({across.ranks.mean()[leader]:.2f}); see the section below for the tests."
        )
    # The answer first: one sentence per dataset, then the cross-dataset view, then each dataset's details.
    blocks += [Heading("The answer", 2), Bullets(answers)]
    if across is not None:
        blocks += across_blocks(across, out_dir / "figures")
    pages = [(section.page, section.blocks) for section in sections]
    return blocks, pages


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = expand_paths(args.paths)
    if not paths:
        print(f"behave-report: nothing matches {' '.join(args.paths)}", file=sys.stderr)
        return 1
    records = load_records(paths)
    if not records:
        print(f"behave-report: no result.json below {' '.join(map(str, paths))}", file=sys.stderr)
        return 1
    out_dir = (args.out or default_out_dir(paths)).resolve()
    options = ReportOptions(
        reference=args.reference,
        n_boot=args.n_boot,
        seed=args.seed,
        correction=Correction(args.correction),
        rope=args.rope,
    )
    front, pages = build_report(records, out_dir, options)
    written = write_outputs(front, pages, records, out_dir)
    blocks = front + [block for _, page in pages for block in page]
    figures = [block.path for block in blocks if isinstance(block, Figure)]
    for path in [*written, *figures]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
