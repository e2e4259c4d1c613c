"""A generated process log in the shape outcome-prediction researchers use: one row per activity, a case id,
a timestamp, a resource, a per-case attribute, and a case outcome (regular / deviant) on every row.

Every case ends with an activity that gives its outcome away ("Release A" for regular cases, "Return ER"
for deviant ones), as complete cases in real logs often do. Before that, deviant cases only lean towards
"Escalate" and the "Lab" resource, so the outcome can be guessed from early events, but not read off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ACTIVITIES = ["Registration", "Triage", "Lab test", "Consult", "Escalate", "Treatment"]
PROCESS_YAML = """\
defaults:
  - csv
name: process
source:
  events: process/log.csv
  read_options: {sep: ";"}
schema:
  sequence_id: Case ID
  timestamp: time:timestamp
  categorical: [Activity, org:group]
  numeric: [Leucocytes]
  static_categorical: [Diagnose]
label:
  column: label
  positive: deviant
tokens:
  fields: [Activity, org:group]
split:
  method: stratified
"""


def process_log(n_cases: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    deviant = rng.random(n_cases) < 0.35
    rows = []
    start = pd.Timestamp("2024-03-01")
    for case in range(n_cases):
        n_steps = int(rng.integers(4, 16))
        escalate_p = 0.30 if deviant[case] else 0.12
        lab_p = 0.45 if deviant[case] else 0.30
        when = start + pd.Timedelta(hours=float(rng.uniform(0, 24 * 90)))
        activities = ["Registration", "Triage"]
        activities += [
            "Escalate" if rng.random() < escalate_p else str(rng.choice(ACTIVITIES[2:4] + ACTIVITIES[5:]))
            for _ in range(n_steps - 3)
        ]
        activities.append("Return ER" if deviant[case] else "Release A")
        diagnose = str(rng.choice(["A", "B", "C"]))
        for activity in activities:
            when += pd.Timedelta(minutes=float(rng.exponential(90)))
            rows.append(
                {
                    "Case ID": f"case{case:04d}",
                    "Activity": activity,
                    "org:group": "Lab" if rng.random() < lab_p else str(rng.choice(["A", "B", "C"])),
                    "time:timestamp": when.strftime("%Y-%m-%d %H:%M:%S"),
                    "Leucocytes": round(float(rng.normal(12 if deviant[case] else 10, 3)), 1),
                    "Diagnose": diagnose,
                    "label": "deviant" if deviant[case] else "regular",
                }
            )
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def write_process_project(root: Path, n_cases: int = 600) -> list[str]:
    """A user's folder: conf/data/process.yaml and data/raw/process/log.csv; returns the train overrides
    that point behave at them (as `hydra.searchpath` and `paths.data_dir` would on the command line)."""
    (root / "conf" / "data").mkdir(parents=True)
    (root / "conf" / "data" / "process.yaml").write_text(PROCESS_YAML)
    (root / "data" / "raw" / "process").mkdir(parents=True)
    process_log(n_cases).to_csv(root / "data" / "raw" / "process" / "log.csv", sep=";", index=False)
    return ["data=process", f"hydra.searchpath=[file://{root / 'conf'}]", f"paths.data_dir={root / 'data'}"]
