"""``lensfind tune | dashboard``: Optuna studies of an experiment and the dashboard on them."""
from __future__ import annotations

import tomllib

from lensfind.config import load_experiment
from lensfind.tune.dashboard import serve
from lensfind.tune.run import default_study_name, format_summary, log_to_stdout, tune
from lensfind.tune.storage import storage_url
from lensfind.validation import ConfigError


def tune_command(args) -> int:
    """``lensfind tune EXPERIMENT.toml --n-trials N [--storage URL] [--study-name S]
    [--workers K] [--small] [--set KEY=VALUE]``."""
    log_to_stdout()
    exp = load_experiment(args.experiment, small=args.small, overrides=args.overrides)
    with open(args.experiment, "rb") as handle:
        base = tomllib.load(handle)
    summary = tune(exp, n_trials=args.n_trials, storage=args.storage,
                   study_name=args.study_name or default_study_name(exp, small=args.small),
                   workers=args.workers, runs_dir=args.runs_dir, objective=args.objective,
                   base=base)
    print(format_summary(summary))
    return 0 if all(code == 0 for code in summary["worker_exit_codes"]) else 1


def dashboard_command(args) -> int:
    """``lensfind dashboard [EXPERIMENT.toml] [--storage URL] [--host H] [--port P]``."""
    if args.storage:
        url = args.storage
    elif args.experiment:
        exp = load_experiment(args.experiment, small=getattr(args, "small", False))
        url = storage_url(exp, None, args.runs_dir)
    else:
        raise ConfigError("dashboard: give an experiment file or --storage URL")
    if args.host not in ("127.0.0.1", "localhost", "::1") and not args.public:
        raise ConfigError(f"--host = {args.host!r} is invalid: the dashboard can change studies; "
                          "expected a loopback address (127.0.0.1), or add --public")
    serve(url, host=args.host, port=args.port)
    return 0
