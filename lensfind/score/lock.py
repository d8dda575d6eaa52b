"""One run per output: ``OUT.lock`` holds the running process's pid and host.

:func:`output_lock` creates the lock file exclusively (``O_CREAT | O_EXCL``) and removes it when
the run ends, however it ends. A second run on the same output is refused with the holder's pid,
host and start time. A lock left by a process that is gone -- same host, pid no longer alive --
is taken over, with a note; a lock from another host is never judged (its process may be alive
there): the message says to remove the file if that run is known to be gone.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class OutputLocked(ValueError):
    """Another run holds the output; the message names the lock file, pid and host."""


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _create(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    record = {"pid": os.getpid(), "host": socket.gethostname(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    return True


@contextlib.contextmanager
def output_lock(out: Path, say: Callable[[str], None]) -> Iterator[Path]:
    """Hold ``OUT.lock`` while the block runs (see the module doc).

    Raises:
        OutputLocked: another live run, or one on another host, holds ``out``.
    """
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    if not _create(path):
        holder = _holder(path)
        pid, where = holder.get("pid"), holder.get("host")
        if isinstance(pid, int) and where == host and not _alive(pid):
            say(f"{path}: taking over the lock of pid {pid} on {host}, which is no longer "
                "running")
            path.unlink(missing_ok=True)
        if not _create(path):
            holder = _holder(path)
            raise OutputLocked(
                f"--out {out} is in use by another run (pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')}, since {holder.get('started', '?')}; lock file "
                f"{path}); expected one run per output: wait for it, choose another --out, or "
                "remove the lock file if that run is gone")
    try:
        yield path
    finally:
        if _holder(path).get("pid") == os.getpid():
            path.unlink(missing_ok=True)
