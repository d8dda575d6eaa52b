"""``lensfind demo``: every capability once, into one output folder (:mod:`lensfind.demo`)."""
from __future__ import annotations

from lensfind.demo import run_demo


def demo_command(args) -> int:
    run_demo(args.out)
    return 0
