"""Folders and files: the ones the user names (`--out`, `-o`) checked and made with one-line errors,
and every file scalinglab writes written atomically (atomic_path).

`train --out afile/x`, `export -o afile/x.csv` or an output folder in a read-only place used to end
in a NotADirectoryError or PermissionError traceback, sometimes after a config.json was written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scalinglab.config.errors import ConfigError


def os_problem(path: Path, error: OSError, doing: str) -> ConfigError:
    """`path: cannot <doing>: <reason>`, one line."""
    if isinstance(error, (NotADirectoryError, FileExistsError)):
        reason = "a file is in the way of a folder"
    elif isinstance(error, IsADirectoryError):
        reason = "it is a folder"
    else:
        reason = error.strerror or str(error)
    return ConfigError(f"{path}: cannot {doing}: {reason}")


def check_folder(path: str | Path) -> Path:
    """Refuse, writing nothing, a folder that cannot be used: a file at it or above it, or a
    nearest existing folder this process may not write in. Returns the path."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{path}: is a file, not a folder")
        nearest = path
        while not nearest.is_dir():
            if nearest.exists() or nearest.is_symlink():  # a file, or a link to nowhere, in the way
                raise ConfigError(f"{path}: {nearest} is a file, not a folder")
            nearest = nearest.parent
    except OSError as e:  # a name too long for the filesystem, a loop of links
        raise os_problem(path, e, "use it as a folder") from None
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot create or write: {nearest} is not writable")
    try:  # access() says yes to root everywhere, /proc and /sys included: a file nobody sees tells
        tempfile.TemporaryFile(dir=nearest).close()
    except OSError as e:
        raise ConfigError(f"{path}: cannot create or write: {nearest} is not writable ({e.strerror or e})") from None
    return path


def make_folder(path: str | Path) -> Path:
    """mkdir -p with a one-line error."""
    path = Path(path)
    check_folder(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_problem(path, e, "create folder") from None
    return path


@contextmanager
def atomic_path(path: Path, previous: Path | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write to. On success it is fsynced and renamed over `path`,
    so a reader (or a process killed mid-write) sees the old file or the new one, never half of one;
    on failure it is deleted. previous: the file being replaced is kept under this name (renamed
    once the new one is whole on disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())  # the rename must not become visible before the data
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and caches are shared between people
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: bytes | str, previous: Path | None = None) -> None:
    with atomic_path(path, previous) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)

