"""The tabular family where the next value has too many classes for a multiclass booster (one tree per class
per round): rank each row's K candidates (`candidates.py`: its last values, the top of a Markov order-1
table, the most popular values) with XGBoost's learning-to-rank objective (`rank:ndcg`, the row is the
query group), early stopping on the validation rows' NDCG.

The count tables are fitted on every training row (the ones saved); a training row's candidates are
described with its own count left out (`candidates.py`), as a new row's would be.

Boosting starts from each candidate's log Markov probability (its base margin): a ranker stopped early
keeps Markov's order, refined, instead of the ties of a few trees.

Outputs, as behave's ranking metrics read them: a row's candidates share `candidate_mass` of probability
by the softmax of their ranker scores, every other value an equal share of the rest, so each row sums to 1
and log loss stays finite. A ranker is not trained for log loss: read its recall@k, MRR and NDCG. Its
recall is bounded by the candidate recall (the share of rows whose true value is among the candidates),
which the record's `extra` gives for the validation rows; the test rows' is logged when predicting (the
runner's record is filled before the test rows are predicted).

Saved as XGBoost JSON (`ranker.xgb.json`), the count tables as JSON + npz, and `ranker.json` (settings).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from behave.data.errors import DataError
from behave.data.inputs import RowInputs
from behave.data.spec import DatasetSpec
from behave.tasks.dataset import TaskDataset
from behave.training.recipe import Fitted, RunContext
from behave.training.tabular.candidates import Candidates, CountModels, RankRows, build_candidates

log = logging.getLogger("behave.train")
MODEL_FILE, SETTINGS_FILE = "ranker.xgb.json", "ranker.json"


@dataclass(frozen=True)
class CandidateRanker:
    """A fitted ranker and what describes its candidates: all `predict` needs."""

    counts: CountModels
    booster: xgb.Booster
    candidates: int
    row_columns: tuple[str, ...]
    candidate_mass: float

    def candidates_of(self, inputs: RowInputs) -> tuple[RankRows, Candidates]:
        rows = RankRows.of(inputs, self.row_columns)
        return rows, build_candidates(self.counts, rows, self.candidates, self.row_columns)

    def probabilities(self, inputs: RowInputs) -> np.ndarray:
        """(R, C) the candidates' softmax scores within `candidate_mass`, the rest shared equally."""
        rows, found = self.candidates_of(inputs)
        n_classes, k = self.counts.num_classes, found.values.shape[1]
        margin = found.markov_margin()
        scores = self.booster.inplace_predict(found.features, base_margin=margin).reshape(len(rows), k)
        weights = np.exp(scores - scores.max(axis=1, keepdims=True, initial=-np.inf))
        mass = 1.0 if k == n_classes else self.candidate_mass
        probs = np.full((len(rows), n_classes), (1.0 - mass) / max(n_classes - k, 1))
        np.put_along_axis(probs, found.values, mass * weights / weights.sum(axis=1, keepdims=True), 1)
        known = rows.labels >= 0
        if known.any():
            log.info(
                "candidate recall (true value among the %d candidates) on %d rows: %.4f",
                k,
                int(known.sum()),
                float(found.hits(rows.labels)[known].mean()),
            )
        return probs


class XGBoostRankerRecipe:
    supported_tasks = frozenset({"classification"})

    def __init__(
        self,
        params: dict[str, Any],
        name: str = "xgboost_ranker",
        family: str = "tabular",
        candidates: int = 50,
        row_columns: tuple[str, ...] = ("gap_s", "elapsed_s"),
        smoothing: float = 1.0,
        candidate_mass: float = 0.99,
        max_train_rows: int = 30_000,
        n_jobs: int = 2,
    ):
        if not 0 < candidate_mass <= 1:
            raise DataError(f"model.candidate_mass must be in (0, 1], got {candidate_mass}")
        if not isinstance(max_train_rows, int) or max_train_rows < 1:
            raise DataError(f"model.max_train_rows must be a whole number >= 1, got {max_train_rows!r}")
        self.params = dict(params)
        self.name = name
        self.family = family
        self.candidates = candidates
        self.row_columns = tuple(row_columns)
        self.smoothing = smoothing
        self.candidate_mass = candidate_mass
        self.max_train_rows = max_train_rows
        self.n_jobs = n_jobs

    def fit(self, data: TaskDataset, context: RunContext) -> Fitted:
        train = RankRows.of(data.inputs("train"), self.row_columns)
        counts = CountModels.fit(train, data.num_classes, self.smoothing)
        val = RankRows.of(data.inputs("val"), self.row_columns)
        val_found = build_candidates(counts, val, self.candidates, self.row_columns)
        val_hits = val_found.hits(val.labels)
        queries = self.training_queries(train, counts, context.seed)
        if not val_hits.any() or not len(queries.features):
            raise DataError(
                f"model={self.name}: no {'validation' if not val_hits.any() else 'training'} row has its "
                f"true value among its {self.candidates} candidates; raise model.candidates"
            )
        ranker = self.estimator(context.seed)
        keep = np.repeat(val_hits, val_found.values.shape[1])  # a row without its true value ranks nothing
        ranker.fit(
            queries.features,
            queries.relevance,
            qid=queries.qid,
            base_margin=queries.margin,
            eval_set=[(val_found.features[keep], val_found.relevance(val.labels)[keep])],
            eval_qid=[np.repeat(np.flatnonzero(val_hits), val_found.values.shape[1])],
            base_margin_eval_set=[val_found.markov_margin()[keep]],
            verbose=False,
        )
        best = int(getattr(ranker, "best_iteration", ranker.n_estimators - 1))
        booster = ranker.get_booster()[: best + 1]  # the rounds early stopping kept, as predict uses them
        model = CandidateRanker(counts, booster, self.candidates, self.row_columns, self.candidate_mass)
        labelled = val.labels >= 0
        extra = {
            "candidates": int(val_found.values.shape[1]),
            "val_candidate_recall": float(val_hits[labelled].mean()) if labelled.any() else None,
            "train_queries": queries.n_queries,
            "best_iteration": best,
            "feature_names": val_found.feature_names,
        }
        return Fitted(model=model, n_parameters=_nodes(booster), extra=extra)

    def estimator(self, seed: int) -> xgb.XGBRanker:
        defaults = {"objective": "rank:ndcg", "eval_metric": ["ndcg@10"], "tree_method": "hist"}
        return xgb.XGBRanker(**{**defaults, **self.params, "n_jobs": self.n_jobs, "random_state": seed})

    def training_queries(self, train: RankRows, counts: CountModels, seed: int) -> TrainingQueries:
        """Pairs of at most `max_train_rows` training rows (sampled) that have their true value among their
        candidates (a row without it ranks nothing), described leave-one-out."""
        labelled = np.flatnonzero(train.labels >= 0)
        rows = np.sort(np.random.default_rng(seed).permutation(labelled)[: self.max_train_rows])
        sampled = train.take(rows)
        found = build_candidates(counts, sampled, self.candidates, self.row_columns, fitted_rows=True)
        hits = found.hits(sampled.labels)
        keep = np.repeat(hits, found.values.shape[1])
        return TrainingQueries(
            found.features[keep],
            found.relevance(sampled.labels)[keep],
            found.markov_margin()[keep],
            np.repeat(rows[hits], found.values.shape[1]),
            int(hits.sum()),
        )

    def save(self, fitted: Fitted, data: TaskDataset, context: RunContext) -> None:
        model: CandidateRanker = fitted.model
        run_dir = Path(context.run_dir)
        model.booster.save_model(run_dir / MODEL_FILE)
        model.counts.save(run_dir)
        settings = {
            "candidates": model.candidates,
            "row_columns": list(model.row_columns),
            "candidate_mass": model.candidate_mass,
        }
        (run_dir / SETTINGS_FILE).write_text(json.dumps(settings, indent=2))

    def predict(self, model: CandidateRanker, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        return model.probabilities(inputs)

    def predict_proba(self, run_dir: Path, inputs: RowInputs, spec: DatasetSpec) -> np.ndarray:
        run_dir = Path(run_dir)
        if not (run_dir / MODEL_FILE).is_file() or not (run_dir / SETTINGS_FILE).is_file():
            raise DataError(f"{run_dir}: no {MODEL_FILE} and {SETTINGS_FILE}; the run folder is incomplete")
        settings = json.loads((run_dir / SETTINGS_FILE).read_text())
        booster = xgb.Booster()
        booster.load_model(run_dir / MODEL_FILE)
        model = CandidateRanker(
            CountModels.load(run_dir),
            booster,
            int(settings["candidates"]),
            tuple(settings["row_columns"]),
            float(settings["candidate_mass"]),
        )
        return model.probabilities(inputs)


@dataclass(frozen=True)
class TrainingQueries:
    """The ranker's training pairs: `features` (N, F), `relevance` (N,), `margin` (N,) the score boosting
    starts from, `qid` (N,) their row, sorted."""

    features: np.ndarray
    relevance: np.ndarray
    margin: np.ndarray
    qid: np.ndarray
    n_queries: int


def _nodes(booster: xgb.Booster) -> int:
    return int(sum(tree.count('"nodeid"') for tree in booster.get_dump(dump_format="json")))
