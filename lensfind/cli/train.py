"""``lensfind cv | aggregate | compare | sweep``: cross-validation runs and their summaries."""
from __future__ import annotations

from pathlib import Path

from lensfind.config import load_experiment
from lensfind.train.cv import run_cv
from lensfind.train.summary import aggregate, compare_runs, finished_runs
from lensfind.train.sweep import run_sweep
from lensfind.validation import ConfigError


def cv_command(args) -> int:
    """``lensfind cv EXPERIMENT.toml [--small] [--set K=V] [--fold k] [--run-dir DIR]``."""
    exp = load_experiment(args.experiment, small=args.small, overrides=args.overrides)
    result = run_cv(exp, run_dir=args.run_dir, folds=args.fold or None,
                    runs_root=args.runs_dir, new=args.new)
    print(f"lensfind cv: run directory {result.run_dir}")
    return 0


def aggregate_command(args) -> int:
    """``lensfind aggregate RUN_DIR``."""
    aggregate(args.run_dir)
    return 0


def compare_command(args) -> int:
    """``lensfind compare [RUN_DIR ...] --out DIR`` (default: latest finished run of each
    experiment under ``--runs-dir``)."""
    dirs = args.run_dirs or finished_runs(args.runs_dir, args.experiments or None)
    if not dirs:
        raise ConfigError(f"compare: no finished runs under {args.runs_dir}/ (run `lensfind cv` "
                          "first, or name run directories)")
    compare_runs(dirs, args.out or Path(args.runs_dir) / "compare")
    return 0


def sweep_command(args) -> int:
    """``lensfind sweep EXPERIMENT.toml [--small] [--set K=V] [--runs-dir DIR]``."""
    exp = load_experiment(args.experiment, small=args.small, overrides=args.overrides)
    run_sweep(exp, runs_root=args.runs_dir)
    return 0
