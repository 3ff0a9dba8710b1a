"""Atomic file writes: a reader (or a resumed run) never sees a half-written file.

The temporary file beside the target is named `.<target name>.<host>-<pid>.<random>.tmp`, so a
later write of the same target can tell the leftovers of a killed process (same host, process
gone) from a write in progress, and removes them.
"""

import glob
import json
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

LEGACY_STALE_SECONDS = 3600  # temp names without host and pid (older versions): stale after an hour


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{_owner()}.", suffix=".tmp")
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _owner() -> str:
    return f"{socket.gethostname().replace('.', '_')}-{os.getpid()}"


def remove_stale_temporaries(path) -> list[Path]:
    """Remove the temporary files that interrupted atomic writes of `path` left; returns them."""
    path = Path(path)
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        owner = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if _stale(tmp, owner):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _stale(tmp: Path, owner: str) -> bool:
    host, _, pid = owner.rpartition("-")
    if host and pid.isdigit():
        return host == socket.gethostname().replace(".", "_") and not _alive(int(pid))
    try:
        return time.time() - tmp.stat().st_mtime > LEGACY_STALE_SECONDS
    except FileNotFoundError:  # its writer just finished
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
