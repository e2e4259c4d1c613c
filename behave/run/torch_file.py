"""The one reader and writer of torch files in a run folder (weights, checkpoints, pretrained encoders).

A torch file is a pickle, and a pickle can name any function to call while it loads. A run folder is often
copied from elsewhere (a cluster, a colleague), so every torch file behave reads back is loaded weights-only:
tensors, plain containers and numbers, nothing that runs code. A file that names anything else is refused
(`UnsafeTorchFile`: the run stops and names it); a file that cannot be read at all, as a kill or a full disk
during its write leaves it, is `UnreadableTorchFile`, which a caller may recover from (a checkpoint: start
afresh). Files are written to a temporary name and renamed, so a reader never sees half of one.
torch is imported inside the functions: a tree run never imports it.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from behave.data.errors import DataError
from behave.data.storage.cache import atomic_path


class UnsafeTorchFile(DataError):
    """A torch file that would run code (or build objects other than tensors) when loaded."""


class UnreadableTorchFile(DataError):
    """A torch file that is not a whole torch file (truncated, empty, another format)."""


def read_torch_file(path: Path | str, map_location: Any = "cpu") -> Any:
    """The content of a torch file from a run folder, loaded weights-only; `UnsafeTorchFile` when it holds
    more than weights, `UnreadableTorchFile` when it cannot be read."""
    import torch

    path = Path(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:  # the weights-only unpickler met something it will not build
        named = unsafe_names(path)
        raise UnsafeTorchFile(
            f"{path}: refused to load: it holds more than weights ({named}), which would run code when "
            "loaded. Was this run folder copied from somewhere you do not trust? Remove the file to go on "
            "without it."
        ) from error
    except FileNotFoundError:
        raise
    except Exception as error:  # noqa: BLE001 - torch reports a damaged file with many exception types
        raise UnreadableTorchFile(
            f"{path}: not a readable torch file (truncated by a kill or a full disk during its write?): "
            f"{type(error).__name__}: {first_line(error)}"
        ) from error


def unsafe_names(path: Path) -> str:
    """What a refused file names that is not weights, as torch lists it (zip checkpoints), for messages."""
    import torch

    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - an old-format pickle: torch cannot list it, the refusal stands
        return "objects other than tensors"
    return ", ".join(names) if names else "objects other than tensors"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else "(no message)"


def write_torch_file(content: Any, path: Path | str) -> None:
    """`torch.save` to a temporary name beside `path`, then renamed to it."""
    import torch

    with atomic_path(Path(path)) as temp:
        torch.save(content, temp)
