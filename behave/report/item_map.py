"""The report's item map for rating runs: the learned item embeddings of one dot-product run, projected by
PCA (share of variance per component), the most-rated items labelled and coloured by group (MovieLens: the
main genre), the items each well-known item sits closest to (cosine), and the items the model likes most
and least beyond what their raters explain (the item bias).

Only items with at least MIN_RATINGS training ratings enter: an item rated three times keeps most of its
random start, and those points would crowd the map without meaning anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from behave.report import plots
from behave.report.document import Block, Figure, Heading, Paragraph, Table
from behave.report.records import RunRecord
from behave.run.embedding_table import ITEM_EMBEDDINGS_FILE, n_dims, read_embedding_table, vectors_of

MIN_RATINGS = 20
# The runs the map prefers, best first: the model with biases separates taste from popularity.
PREFERRED_MODELS = ("dot_bias", "dot")


@dataclass(frozen=True)
class ItemMap:
    """PCA of the item vectors of one run: coords (n, 2), variance share per component, the items table."""

    record: RunRecord
    items: pd.DataFrame
    vectors: np.ndarray
    coords: np.ndarray
    variance_share: np.ndarray


def item_run(records: list[RunRecord]) -> tuple[RunRecord, pd.DataFrame] | None:
    """The preferred model's lowest-seed run that wrote item embeddings with at least one dimension."""
    runs = [r for r in records if r.ok and (r.run_dir / ITEM_EMBEDDINGS_FILE).exists()]
    rank = {name: i for i, name in enumerate(PREFERRED_MODELS)}
    runs.sort(
        key=lambda r: (rank.get(r.model, len(rank)), r.model, r.seed if r.seed is not None else 1 << 30)
    )
    for record in runs:
        table = read_embedding_table(record.run_dir / ITEM_EMBEDDINGS_FILE)
        if n_dims(table) and len(table):
            return record, table
    return None


def build_item_map(record: RunRecord, table: pd.DataFrame, min_ratings: int = MIN_RATINGS) -> ItemMap | None:
    """PCA of the vectors of items with at least `min_ratings` training ratings; None when fewer than 3."""
    items = table[table["train_freq"] >= min_ratings].reset_index(drop=True)
    if len(items) < 3:
        return None
    vectors = vectors_of(items)
    centred = vectors - vectors.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    variance = singular**2
    share = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    coords = centred @ components[:2].T
    if coords.shape[1] < 2:  # one-dimensional embeddings: the map is a line
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
    return ItemMap(record, items, vectors, coords, share)


def nearest_neighbours(
    item_map: ItemMap, queries: list[int], k: int = 5
) -> dict[int, list[tuple[int, float]]]:
    """Row -> the k other rows with the highest cosine similarity of the raw (uncentred) item vectors."""
    norms = np.linalg.norm(item_map.vectors, axis=1, keepdims=True)
    unit = item_map.vectors / np.where(norms > 0, norms, 1.0)
    out = {}
    for row in queries:
        similarity = unit @ unit[row]
        similarity[row] = -np.inf
        best = np.argsort(-similarity, kind="stable")[:k]
        out[row] = [(int(i), float(similarity[i])) for i in best]
    return out


def item_map_blocks(records: list[RunRecord], fig_dir: Path, prefix: str, n_queries: int = 6) -> list[Block]:
    found = item_run(records)
    if found is None:
        return []
    record, table = found
    item_map = build_item_map(record, table)
    heading = Heading("Item map", 3)
    if item_map is None:
        return [heading, Paragraph(f"Fewer than 3 items have {MIN_RATINGS} training ratings: no map.")]
    items = item_map.items
    share = item_map.variance_share
    title = f"{record.model} seed {record.seed}: item embeddings (PCA)"
    path = plots.plot_item_map(items, item_map.coords, share, title, fig_dir / f"{prefix}_item_map.png")
    shown = ", ".join(f"PC{i + 1} {100 * v:.1f}%" for i, v in enumerate(share[:3]))
    blocks: list[Block] = [
        heading,
        Paragraph(
            f"Item embeddings of {record.model} (seed {record.seed}, {len(items)} items with at least "
            f"{MIN_RATINGS} training ratings of {len(table)}), projected on their first principal "
            f"components. Share of variance: {shown}. The most-rated items are labelled; colours are the "
            "item's group. TensorBoard's projector holds the same vectors with their metadata."
        ),
        Figure(path, "PCA of the item embeddings, most-rated items labelled, coloured by group."),
    ]
    queries = items.nlargest(n_queries, "train_freq").index.tolist()
    neighbours = nearest_neighbours(item_map, queries)
    rows = [
        [str(items.at[q, "token"]), "; ".join(f"{items.at[i, 'token']} ({s:.2f})" for i, s in found)]
        for q, found in neighbours.items()
    ]
    blocks += [
        Paragraph("Nearest neighbours (cosine similarity of the item vectors) of the most-rated items:"),
        Table(["item", "closest items (cosine)"], rows),
    ]
    if "bias" in items:
        ranked = items.sort_values("bias", kind="stable")
        low = ", ".join(f"{t} ({b:+.2f})" for t, b in zip(ranked["token"][:5], ranked["bias"][:5]))
        high = ", ".join(
            f"{t} ({b:+.2f})" for t, b in zip(ranked["token"][::-1][:5], ranked["bias"][::-1][:5])
        )
        blocks.append(
            Table(
                ["item bias", f"items (at least {MIN_RATINGS} ratings)"],
                [["highest: rated above what their raters and vectors explain", high], ["lowest", low]],
            )
        )
    return blocks
