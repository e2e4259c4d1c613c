"""How many classes a boosted-tree model is asked to fit: a multiclass booster grows one tree per class per
round, so a next item out of 1,682 movies would grow 1,682 trees a round. Past the limit the run is refused
before boosting, with what to do instead."""

from __future__ import annotations

from behave.data.errors import DataError

# Trees per round a booster may be asked to grow (the simulator's 13 next activities take ~10 min at
# 262k rows on 2 cores; a hundred classes is as far as that scales usefully).
MAX_TREE_CLASSES = 100


def refuse_too_many_classes(model: str, num_classes: int, limit: int = MAX_TREE_CLASSES) -> None:
    if num_classes > limit:
        raise DataError(
            f"model={model} grows one tree per class per round and the task has {num_classes:,} classes "
            f"(more than {limit}): lower task.max_classes (the rarest values pool as (other)), rank "
            "candidates (model=xgboost_ranker), or predict this many values with a neural model or a count "
            "baseline (markov, popularity)"
        )
