"""The run folder's `checkpoints/`, shared by every family that resumes (neural `last.ckpt`, XGBoost's
booster): it may only be resumed by the config that wrote it, so it carries that config's digest. No torch
here, so tabular runs do not pay for importing it."""

from __future__ import annotations

import shutil
from pathlib import Path

from behave.data.storage.cache import atomic_path, digest

CHECKPOINTS = "checkpoints"
WRITTEN_FOR = "config.sha256"


def config_digest(config: dict) -> str:
    return digest(config)


def checkpoint_folder(run_dir: Path, config: dict) -> Path:
    """The run's checkpoint folder, kept if a killed run of this same config left it; a folder left by
    another config is cleared (resuming it would mix two runs). Records the config for the next rerun."""
    folder = run_dir / CHECKPOINTS
    digest = config_digest(config)
    stamp = folder / WRITTEN_FOR
    if folder.exists() and (not stamp.exists() or stamp.read_text() != digest):
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(stamp) as temp:
        temp.write_text(digest)
    return folder
