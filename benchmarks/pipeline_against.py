"""The pipeline's stages under another commit of behave, side by side with this checkout's, in one run.

`benchmarks/pipeline.py --against REV` extracts REV's `behave/` (`git archive`) into a temporary folder and
starts a child process that imports behave from there, simulates the same log (the simulator is seeded)
and runs the stages whenever the parent asks. The parent asks before each of its own runs, so the two
versions alternate under the same load, and the fastest run of each is compared. Afterwards both write
their outputs (per-event inputs, static inputs, feature table) and every cell is compared: a speed-up
counts only when the cells are the same.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPLY = "@@ "  # the child's answers start with this; anything else it prints is passed on to stderr
TARGET_SPEEDUP = 1.2


def extract(rev: str) -> Path:
    """REV's `behave/` package and `conf/` folder in a temporary folder (removed at exit)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "behave", "conf"], capture_output=True, check=False
    )
    if archive.returncode != 0:
        raise SystemExit(f"--against {rev}: git archive failed: {archive.stderr.decode().strip()}")
    folder = Path(tempfile.mkdtemp(prefix="behave-against-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def commit_of(rev: str) -> str:
    command = ["git", "-C", str(ROOT), "rev-parse", "--short", rev]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.stdout.strip() or rev


class Baseline:
    """The child process running the stages with REV's behave on the same simulated log."""

    def __init__(self, rev: str, events: int, order: str) -> None:
        self.rev, self.commit = rev, commit_of(rev)
        folder = extract(rev)
        env = {**os.environ, "PYTHONPATH": str(folder), "BEHAVE_BENCHMARK_CONF": str(folder / "conf")}
        command = [sys.executable, __file__, "--events", str(events), "--order", order]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
        )
        self.events = None  # the child's event count, once its simulation is done

    def wait_ready(self) -> int:
        """The number of events the child simulated (its first answer); waits for it once."""
        if self.events is None:
            self.events = self._reply()["events"]
        return self.events

    def _reply(self):
        for line in self.process.stdout:
            if line.startswith(REPLY):
                return json.loads(line[len(REPLY) :])
            sys.stderr.write(line)
        raise SystemExit(f"the {self.rev} child process ended early (exit {self.process.wait()})")

    def ask(self, command: str):
        self.wait_ready()
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._reply()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def save_outputs(outputs: dict[str, np.ndarray], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, values in outputs.items():
        np.save(folder / f"{name}.npy", values)


def compare_outputs(ours: dict[str, np.ndarray], folder: Path) -> tuple[int, int, list[str]]:
    """(cells that differ, cells compared, names of arrays whose shape or columns differ) against the
    arrays the child saved in `folder`. NaN equals NaN."""
    differing, cells, mismatched = 0, 0, []
    for name, values in ours.items():
        theirs = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        if theirs.shape != values.shape or theirs.dtype != values.dtype:
            mismatched.append(f"{name} {theirs.shape} {theirs.dtype} vs {values.shape} {values.dtype}")
            continue
        same = theirs == values
        if values.dtype.kind == "f":
            same |= np.isnan(theirs) & np.isnan(values)
        differing += int(values.size - np.count_nonzero(same))
        cells += values.size
    return differing, cells, mismatched


def outputs_of(fitted, log_, transform_whole_log) -> dict[str, np.ndarray]:
    """Every array the transform stage produces, by name (feature column names as a string array)."""
    events, static, table = transform_whole_log(fitted, log_)
    return {
        "offsets": np.asarray(events.offsets),
        "tokens": events.tokens,
        "numeric": events.numeric,
        "fields": events.fields,
        "static": static,
        "feature_names": np.asarray(table.columns, dtype=str),
        "features": table.to_numpy(),
    }


def serve(events: int, order: str) -> None:
    """The child: simulate, then answer `run` (the stages, timed) and `save FOLDER` (the outputs)."""
    import pipeline as bench  # the benchmark module, importing behave from the extracted commit

    def reply(value) -> None:
        print(REPLY + json.dumps(value), flush=True)

    with tempfile.TemporaryDirectory() as cache_dir:
        spec = bench.synthetic_spec(cache_dir)
    raw = bench.simulate(spec, events, order)
    reply({"events": len(raw.events)})
    fitted = None
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "run":
            stages, fitted = bench.run_stages(raw, spec)
            reply([asdict(t) for t in stages])
        elif command == "save":
            log_ = bench.validate(raw, spec)[0]
            save_outputs(outputs_of(fitted, log_, bench.transform_whole_log), Path(argument))
            reply("saved")


if __name__ == "__main__":
    serve(int(sys.argv[sys.argv.index("--events") + 1]), sys.argv[sys.argv.index("--order") + 1])
