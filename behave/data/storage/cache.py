"""Fingerprints and atomic writes, so an interrupted run never leaves a cache or result that is reused.

A cache folder is built under a temporary name and renamed into place in one step; a folder only
counts as a cache when its name is a fingerprint (temporary names start with '.tmp-').
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from behave.data.errors import DataError

# Bump when the prepared data changes for the same inputs, so old caches are not reused.
PIPELINE_VERSION = 4


def digest(payload: Any) -> str:
    """The sha256 (64 hex chars) of a JSON-serialisable payload (key order does not matter): the one digest
    of configs, for cache keys and for what a checkpoint folder was written for."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(payload: Any) -> str:
    """The first 16 hex chars of `digest`: the name of a cache folder."""
    return digest(payload)[:16]


def file_digest(path: str | Path) -> dict[str, Any]:
    """Content hash of a file (what makes the cache follow edits, not just renames or touches)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": os.path.getsize(path), "sha256": digest.hexdigest()}


HOST = socket.gethostname().replace("-", "_")
# Errors that mean "this folder cannot be written", as opposed to a bug: said in words that name the folder.
UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


# A full disk as numpy (a short write, no errno) and Arrow (the errno in the text only) report it.
DISK_FULL_TEXT = re.compile(r"\d+ requested and \d+ written|No space left on device|Disk quota exceeded")


@contextlib.contextmanager
def cache_writes(folder: Path) -> Iterator[None]:
    """Turn a full disk or a read-only folder into a DataError naming the cache folder and the way out."""
    free = _free_bytes(folder)
    try:
        yield
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT) or DISK_FULL_TEXT.search(str(error)):
            raise _disk_full(folder, free, error) from None
        if error.errno not in UNWRITABLE:
            raise
        raise DataError(
            f"cannot write the prepared data under {folder} ({error.strerror}). Free some space there or "
            "point the cache elsewhere with paths.cache_dir=... (nothing half-written was kept)."
        ) from None


def _disk_full(folder: Path, free: int, error: OSError) -> DataError:
    return DataError(
        f"cannot write the prepared data under {folder}: the disk (or your quota) is full there, on the disk "
        f"mounted at {_mount_point(folder)} ({error}). The preparation needs more than the "
        f"{free / 1e9:.2f} GB that were free on that disk when it began (a quota may allow less). Free some "
        "space there or point the cache elsewhere with paths.cache_dir=... (nothing half-written was kept)."
    )


def _existing(folder: Path) -> Path:
    """`folder`, or its nearest ancestor that exists (a cache folder is created by the preparation)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _free_bytes(folder: Path) -> int:
    return shutil.disk_usage(_existing(folder)).free


def _mount_point(folder: Path) -> Path:
    folder = _existing(folder)
    while not os.path.ismount(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def clean_stale_temporaries(parent: Path) -> list[Path]:
    """Remove `.tmp-*` folders that a killed preparation on this machine left behind (its process is gone)."""
    removed = []
    for temp in parent.glob(".tmp-*"):
        parts = temp.name.split("-")
        # .tmp-<target>-<host>-<pid>-<random>; folders of other machines or of live processes stay.
        if len(parts) < 5 or parts[-3] != HOST or not parts[-2].isdigit() or _alive(int(parts[-2])):
            continue
        shutil.rmtree(temp, ignore_errors=True)
        removed.append(temp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temp folder beside `target`; on success rename it to `target`, on error remove it.

    If another process finished the same target first, its copy wins and ours is discarded. Temporaries
    of killed preparations are cleaned up first: their names carry the host and the process id.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(target.parent)
    prefix = f".tmp-{target.name}-{HOST}-{os.getpid()}-"
    temp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield temp
        try:
            os.rename(temp, target)
        except OSError:
            if not target.exists():
                raise
            shutil.rmtree(temp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside `path` to write (any file) that is renamed to `path` on success and removed on
    error: readers see the old file or the whole new one, never half of it. The one atomic file write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name per writer: two threads or processes writing the same file never share a temp file.
    temp = path.with_name(f".tmp-{path.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield temp
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temp)
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to `path` atomically (`atomic_path`)."""
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(payload, indent=2, default=str))
