"""Where behave finds its configs: the repository's `conf/` folder, or the BEHAVE_CONFIG_DIR override."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = Path(os.environ.get("BEHAVE_CONFIG_DIR", REPO_ROOT / "conf")).resolve()
