"""`behave-tune`: a tuned comparison end to end. Per model, an Optuna search with the SAME trial budget that
selects on the validation part only; then each model's best configuration over the seeds on the same split;
then the report, which states the budget, each search space and each model's chosen values.

    behave-tune models=gru,xgboost seeds=0,1,2 out=outputs/tuned/sim
    behave-tune models=gru,lstm,xgboost seeds=0,1,2 out=outputs/tuned/kdd search_trials=30 data=kddcup2015

Every other `key=value` goes to each search and each final run alike (data, task, protocol...), and so do
Hydra's flags that say where configs are found (`--config-dir <folder>` for one's own data YAMLs,
`--config-name`, `--config-path`, their short forms and `--flag=value`). A search
ranks its trials by their validation score (`best_val`); the trials also record test metrics, as every
run does, but nothing here reads them: the test part plays no part in choosing a configuration.
Layout under `out`: search/<model>/ (the trials), final/ (the tuned runs), tuning.json, and the report.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from behave.data.errors import DataError
from behave.data.storage.cache import write_json_atomic
from behave.paths import CONFIG_DIR

USAGE = (
    "usage: behave-tune models=<m1,m2,...> seeds=<0,1,2> out=<folder> [search_trials=N] [key=value ...] "
    "[--config-dir <folder>]"
)
TUNING_FILE = "tuning.json"
# Hydra's flags that say where the configs are, each with its value: every search and final run gets them.
# Its other flags (--multirun, --cfg, --help ...) would change what a step does, so they are refused.
CONFIG_FLAGS = {
    "--config-dir": "--config-dir", "-cd": "--config-dir", "--config-name": "--config-name",
    "-cn": "--config-name", "--config-path": "--config-path", "-cp": "--config-path",
}  # fmt: skip


@dataclass
class TuneRequest:
    """What `behave-tune` was asked: the models, the seeds (Hydra's comma list), the output folder, what goes
    to every step (`key=value` overrides and Hydra's config flags) and the search budget (None: the
    search's own `search_trials`)."""

    models: list[str]
    seeds: str
    out: Path
    shared: list[str] = field(default_factory=list)
    trials: int | None = None
    hydra_flags: list[str] = field(default_factory=list)


def hydra_flags(argv: list[str]) -> tuple[list[str], list[str]]:
    """(Hydra's config flags as `--flag=value`, the other arguments), refusing flags of any other kind."""
    flags, rest, arguments = [], [], iter(argv)
    for argument in arguments:
        if not argument.startswith("-"):
            rest.append(argument)
            continue
        name, sep, value = argument.partition("=")
        if name not in CONFIG_FLAGS:
            known = ", ".join(sorted({*CONFIG_FLAGS, *CONFIG_FLAGS.values()}))
            raise DataError(f"behave-tune: '{argument}' is not a flag it passes on (only {known}). {USAGE}")
        if not sep:
            value = next(arguments, "")
            if not value or value.startswith("-"):
                raise DataError(f"behave-tune: {argument} needs a value ({argument} <value>). {USAGE}")
        flags.append(f"{CONFIG_FLAGS[name]}={value}")
    return flags, rest


def parse(argv: list[str]) -> TuneRequest:
    """The request from `key=value` arguments and Hydra's config flags."""
    flags, argv = hydra_flags(argv)
    options, shared = {}, []
    for argument in argv:
        key, sep, value = argument.partition("=")
        if not sep:
            raise DataError(f"behave-tune: '{argument}' is not key=value. {USAGE}")
        if key in ("models", "seeds", "out", "search_trials"):
            options[key] = value
        else:
            shared.append(argument)
    missing = [key for key in ("models", "seeds", "out") if not options.get(key)]
    if missing:
        raise DataError(f"behave-tune: missing {', '.join(missing)}. {USAGE}")
    models = [m.strip() for m in options["models"].split(",") if m.strip()]
    folders = config_folders(flags)
    unsearchable = [m for m in models if search_file(m, folders) is None]
    if unsearchable:
        known = sorted({p.stem for folder in folders for p in (folder / "hparams_search").glob("*.yaml")})
        raise DataError(
            f"behave-tune: no search space for {', '.join(unsearchable)} (conf/hparams_search/); known: "
            + ", ".join(known)
        )
    trials = int(options["search_trials"]) if options.get("search_trials") else None
    return TuneRequest(models, options["seeds"], Path(options["out"]), shared, trials, flags)


def config_folders(flags: list[str]) -> list[Path]:
    """Where Hydra finds configs: behave's conf/ first, then a `--config-dir` (checked to exist)."""
    folders = [CONFIG_DIR]
    for flag in flags:
        name, _, value = flag.partition("=")
        if name == "--config-dir":
            if not Path(value).is_dir():
                raise DataError(f"behave-tune: --config-dir {value}: no such folder")
            folders.append(Path(value).resolve())
    return folders


def search_file(model: str, folders: list[Path]) -> Path | None:
    """The first hparams_search/<model>.yaml in search order, as Hydra would pick it."""
    found = [folder / "hparams_search" / f"{model}.yaml" for folder in folders]
    return next((path for path in found if path.exists()), None)


def search_space(model: str, folders: list[Path] | None = None) -> dict[str, str]:
    """The search's parameters as written in hparams_search/<model>.yaml."""
    config = OmegaConf.load(search_file(model, folders or [CONFIG_DIR]))
    return {str(k): str(v) for k, v in config.hydra.sweeper.params.items()}


def best_of_search(folder: Path) -> tuple[dict, float, int]:
    """(best parameters, best validation value, trials run) of a finished Optuna search folder."""
    results = folder / "optimization_results.yaml"
    if not results.exists():
        raise DataError(
            f"behave-tune: the search in {folder} wrote no optimization_results.yaml (see its log)"
        )
    best = OmegaConf.to_container(OmegaConf.load(results))
    trials = len(list(folder.glob("trial_*/result.json")))
    return dict(best["best_params"]), float(best["best_value"]), trials


def override(key: str, value) -> str:
    """A Hydra override that sets `key` to exactly `value` (strings quoted, so 'last+mean' stays one)."""
    if isinstance(value, str):
        return f"{key}='{value}'"
    return f"{key}={json.dumps(value)}"


def behave_train(arguments: list[str]) -> None:
    command = [sys.executable, "-m", "behave.train", *arguments]
    print("behave-tune:", shlex.join(command), flush=True)
    done = subprocess.run(command)
    if done.returncode != 0:
        raise DataError(f"behave-tune: this step failed (exit {done.returncode}): {shlex.join(command)}")


def main(argv: list[str] | None = None) -> int:
    try:
        request = parse(sys.argv[1:] if argv is None else argv)
        models, seeds, out, flags = request.models, request.seeds, request.out, request.hydra_flags
        shared = request.shared
        budget = [f"search_trials={request.trials}"] if request.trials else []
        tuning: dict = {"models": {}, "shared_overrides": shared, "hydra_flags": flags}
        for model in models:
            folder = out / "search" / model
            behave_train([*flags, f"hparams_search={model}", *budget, *shared, f"hydra.sweep.dir={folder}"])
            params, value, ran = best_of_search(folder)
            tuning["models"][model] = {
                "search_space": search_space(model, config_folders(flags)),
                "best": params,
                "best_val": value,
                "trials": ran,
            }
        tuning["trials_per_model"] = {m: t["trials"] for m, t in tuning["models"].items()}
        write_json_atomic(out / TUNING_FILE, tuning)
        for model in models:
            chosen = [override(k, v) for k, v in tuning["models"][model]["best"].items()]
            behave_train(
                [*flags, "-m", f"model={model}", f"seed={seeds}", *shared, *chosen,
                 f"tuning={(out / TUNING_FILE).resolve()}", f"hydra.sweep.dir={out / 'final' / model}",
                 # The chosen values would make the job folders' names too long for the file system.
                 "hydra.sweep.subdir=seed_${seed}"]
            )  # fmt: skip
        from behave.report.__main__ import main as report

        return report([str(out / "final"), "--out", str(out)])
    except DataError as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
