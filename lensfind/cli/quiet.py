"""Quiet start-up: TensorFlow's native log lines kept off the terminal unless ``--verbose``.

TensorFlow's C++ libraries write absl log lines straight to file descriptor 2 while they load
and while graphs are optimised (oneDNN notices, CUDA stubs, CPU-feature notes, ``NodeDef mentions
attribute ...``); ``TF_CPP_MIN_LOG_LEVEL`` no longer silences the ones written before absl is
initialised. :func:`quiet_native_logs` puts a pipe in front of descriptor 2 and forwards
everything except those lines, so warnings and tracebacks of Python and of lensfind still show.
Carriage-return updates (progress bars) are forwarded as they come.
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import threading

#: start-up and optimiser chatter of TensorFlow's native code (absl format ``I0000 hh:mm...``)
NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\]"
    rb"|E\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*(NodeDef mentions attribute"
    rb"|cuInit|CUDA|cuda|TensorRT)"
    rb"|To enable the following instructions:)")
#: a fragment that may grow into a NOISE line: held until its line ends
PREFIX = re.compile(rb"^([IWE]\d{0,4}( |$)|WARNING: All|To enable)")


def _pump(source: int, target: int) -> None:
    pending = b""
    while True:
        chunk = os.read(source, 65536)
        if not chunk:
            break
        pending += chunk
        parts = re.split(rb"(?<=[\r\n])", pending)
        pending = parts.pop() if parts and not parts[-1].endswith((b"\n", b"\r")) else b""
        if pending and not PREFIX.match(pending):
            parts.append(pending)
            pending = b""
        out = b"".join(p for p in parts if p and not NOISE.match(p))
        if out:
            os.write(target, out)
    if pending and not NOISE.match(pending):
        os.write(target, pending)


def quiet_native_logs() -> None:
    """Filter this process's (and its children's) descriptor 2 until the interpreter exits."""
    sys.stderr.flush()
    real = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_pump, args=(read_end, real), name="lensfind-stderr",
                              daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(real, 2)  # closes our write end; children still holding it keep the pump alive
        thread.join(timeout=1.0)

    atexit.register(restore)
