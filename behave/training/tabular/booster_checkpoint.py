"""XGBoost runs that survive being killed: every `every` rounds the booster, the per-round curves and the
early-stopping state go to one file in the run's checkpoint folder (temporary name, then rename); a rerun
of the same config continues boosting from it instead of starting over.

Without row or column sampling a resumed run ends with the uninterrupted run's exact model. With sampling
it does not: XGBoost keeps its random generator out of the saved model, so the rounds after the
checkpoint draw other (equally valid) samples; the run records the round it resumed at either way.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import xgboost as xgb

from behave.data.storage.cache import write_json_atomic

BOOSTER_CHECKPOINT = "booster.json"

log = logging.getLogger(__name__)


@dataclass
class BoosterState:
    """What a continued fit needs: the trees so far, their per-round evaluation history, and where early
    stopping stood (its best score so far and the rounds since it)."""

    rounds: int
    booster: bytes
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    stopping: dict = field(default_factory=dict)

    def load_booster(self) -> xgb.Booster:
        booster = xgb.Booster()
        booster.load_model(bytearray(self.booster))
        return booster


def early_stopping(rounds: int | None, state: BoosterState | None) -> xgb.callback.EarlyStopping | None:
    """XGBoost's own early stopping (the last eval set's last metric), carrying on a resumed run's count."""
    if not rounds:
        return None
    stopper = xgb.callback.EarlyStopping(rounds=int(rounds))
    if state is not None and state.stopping:
        stopper.stopping_history = state.stopping["history"]
        stopper.best_scores = state.stopping["best"]
        stopper.current_rounds = state.stopping["rounds_since_best"]
    return stopper


class BoosterCheckpoint(xgb.callback.TrainingCallback):
    """Writes the checkpoint every `every` rounds (none on the last round: the model file follows)."""

    def __init__(
        self,
        path: Path,
        every: int,
        total_rounds: int,
        stopper: xgb.callback.EarlyStopping | None,
        earlier: BoosterState | None,
    ) -> None:
        super().__init__()
        self.path, self.every, self.total_rounds, self.stopper = path, every, total_rounds, stopper
        self.earlier_history = earlier.history if earlier is not None else {}

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        rounds = model.num_boosted_rounds()
        if rounds % self.every == 0 and rounds < self.total_rounds:
            write_state(self.path, self._state(model, rounds, evals_log))
        return False

    def _state(self, model: xgb.Booster, rounds: int, evals_log: dict) -> BoosterState:
        stopping = {}
        if self.stopper is not None:
            stopping = {
                "history": self.stopper.stopping_history,
                "best": self.stopper.best_scores,
                "rounds_since_best": self.stopper.current_rounds,
            }
        return BoosterState(
            rounds, bytes(model.save_raw("ubj")), joined(self.earlier_history, evals_log), stopping
        )


def joined(earlier: dict, later: dict) -> dict[str, dict[str, list[float]]]:
    """Per-round curves {eval set: {metric: values}} of the rounds before a resume and after it."""
    names = set(earlier) | set(later)
    return {
        name: {
            metric: [float(v) for v in earlier.get(name, {}).get(metric, [])]
            + [float(v) for v in later.get(name, {}).get(metric, [])]
            for metric in set(earlier.get(name, {})) | set(later.get(name, {}))
        }
        for name in names
    }


def write_state(path: Path, state: BoosterState) -> None:
    payload = {
        "rounds": state.rounds,
        "booster_ubj_base64": base64.b64encode(state.booster).decode("ascii"),
        "history": state.history,
        "stopping": state.stopping,
    }
    write_json_atomic(path, payload)


def resumable_state(checkpoints: Path) -> tuple[Path, BoosterState | None]:
    """The checkpoint path of this run, and the state a killed run of this same config left in the run's
    checkpoint folder (`RunContext.checkpoints()`)."""
    path = checkpoints / BOOSTER_CHECKPOINT
    if not path.exists():
        return path, None
    try:
        payload = json.loads(path.read_text())
        booster = base64.b64decode(payload["booster_ubj_base64"], validate=True)
        return path, BoosterState(payload["rounds"], booster, payload["history"], payload["stopping"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, binascii.Error) as error:
        # Cut short by a full disk or a copy (behave writes it whole): the rounds it held are boosted again.
        log.warning("%s: not a readable booster checkpoint (%s); boosting this run afresh", path, error)
        return path, None
