"""Quiet by default: TensorFlow's native start-up lines never reach the terminal without --verbose."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

from lensfind.cli.quiet import NOISE, _pump

TF_LINES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796354440.979305    3007 port.cc:153] oneDNN custom operations are on.\n",
    b"I0000 00:00:1796354440.979588    3007 cudart_stub.cc:31] Could not find cuda drivers\n",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild\n",
    b"E0000 00:00:1796354441.1  3007 meta_optimizer.cc:966] model_pruner failed: NodeDef "
    b"mentions attribute use_unbounded_threadpool which is not in the op definition\n",
]
KEPT = [b"lensfind cv: error: train.epochs = 0 is invalid\n",
        b"Traceback (most recent call last):\n",
        b"E0000 00:00:1796354441.1  3007 some_op.cc:12] a real kernel error\n",
        b"UserWarning: something Python said\n"]


def _through_pump(chunks: list[bytes]) -> bytes:
    source, sink = os.pipe()
    out_r, out_w = os.pipe()
    thread = threading.Thread(target=_pump, args=(source, out_w))
    thread.start()
    for chunk in chunks:
        os.write(sink, chunk)
    os.close(sink)
    thread.join(10)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as fh:
        return fh.read()


def test_filter_drops_native_start_up_lines_and_keeps_everything_else():
    assert all(NOISE.match(line) for line in TF_LINES)
    assert not any(NOISE.match(line) for line in KEPT)
    out = _through_pump([b"".join(TF_LINES[:2]), KEPT[0], TF_LINES[2][:20], TF_LINES[2][20:],
                         b"".join(TF_LINES[3:]), b"".join(KEPT[1:])])
    assert out == b"".join(KEPT)


def test_progress_bar_updates_pass_as_they_come():
    assert _through_pump([b"epochs  10%\r", b"epochs  20%\r", b"epochs 100%\n"]) == \
        b"epochs  10%\repochs  20%\repochs 100%\n"


def _aggregate(tmp_path, *flags):
    """A command that imports TensorFlow and fails cleanly (not a run directory)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    return subprocess.run([sys.executable, "-m", "lensfind.cli", *flags, "aggregate",
                           str(tmp_path)], capture_output=True, env=env, timeout=300)


def test_commands_are_quiet_unless_verbose(tmp_path):
    quiet = _aggregate(tmp_path)
    assert quiet.returncode == 2
    lines = quiet.stderr.splitlines(keepends=True)
    assert lines and all(not NOISE.match(line) for line in lines), quiet.stderr.decode()
    assert b"not a lensfind run directory" in quiet.stderr
    verbose = _aggregate(tmp_path, "--verbose")
    assert verbose.returncode == 2 and b"not a lensfind run directory" in verbose.stderr
    noisy = [line for line in verbose.stderr.splitlines(keepends=True) if NOISE.match(line)]
    assert noisy, "TensorFlow printed no start-up line here: the quiet test proves nothing"
