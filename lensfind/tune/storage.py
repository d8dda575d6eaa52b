"""Where a study lives: an SQLite file in the run directory by default, or any database URL.

Every worker opens the storage with a heartbeat: a thread beside a running trial writes a time
stamp every ``heartbeat_interval`` seconds, and a trial whose stamp is older than
``grace_period`` counts as lost (its worker was killed, its machine went away). The next worker
to look marks it failed and, through :class:`optuna.storages.RetryHeartbeatStaleTrialCallback`
(the name Optuna 4.9+ gives ``RetryFailedTrialCallback``), queues a copy with the same
parameters, so the trial is retried rather than lost.
"""
from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from lensfind.config import Experiment, to_plain
from lensfind.config.tune import TuneConfig
from lensfind.tasks import get_task
from lensfind.validation import ConfigError

SQLITE_TIMEOUT_S = 120  # seconds an SQLite writer waits for another worker's lock


def study_dir(exp: Experiment, runs_dir: str | Path = "runs") -> Path:
    """``runs/<experiment>/tune``: the study database, plots and best configuration."""
    return Path(runs_dir) / exp.name / "tune"


def default_storage_url(exp: Experiment, runs_dir: str | Path = "runs") -> str:
    """``sqlite:///<absolute path>/runs/<experiment>/tune/study.db``."""
    return "sqlite:///" + str((study_dir(exp, runs_dir) / "study.db").resolve())


def storage_url(exp: Experiment, url: str | None = None, runs_dir: str | Path = "runs") -> str:
    """The URL given, else the experiment's ``[tune] storage``, else the default SQLite file."""
    return url or exp.tune.storage or default_storage_url(exp, runs_dir)


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL (``None`` for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def storage_of(study: optuna.Study) -> RDBStorage | None:
    """The :class:`RDBStorage` behind a study (``None`` for other storages)."""
    storage = getattr(study._storage, "_backend", study._storage)
    return storage if isinstance(storage, RDBStorage) else None


@contextlib.contextmanager
def exclusive(study: optuna.Study) -> Iterator[None]:
    """Hold an exclusive lock of an SQLite study file (other databases: nothing to hold).

    Optuna makes "claim a waiting trial" and "fail a stale trial" atomic with
    ``SELECT ... FOR UPDATE``, which SQLite ignores: two processes can then both claim one trial,
    or both queue a retry of one lost trial. On SQLite (one machine), workers therefore do those
    two steps under a ``flock`` of ``study.db.lock``. PostgreSQL and MySQL lock the row.
    """
    storage = storage_of(study)
    path = sqlite_path(storage.url) if storage is not None else None
    if path is None:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare_sqlite(path: Path) -> None:
    """Create the folder and switch the file to write-ahead logging (readers never block)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=SQLITE_TIMEOUT_S) as con:
        con.execute("PRAGMA journal_mode=WAL")


#: what a storage URL may look like (named by every refusal of one)
URL_FORMS = ("sqlite:///path/to/study.db, postgresql://user@host[:port]/db (driver: pip install "
             "'lensfind[postgres]') or mysql+pymysql://user@host/db")
#: SQLAlchemy driver module -> the pip requirement that installs it
DRIVERS = {"psycopg": "'lensfind[postgres]' (psycopg 3)", "psycopg2": "psycopg2-binary",
           "pymysql": "pymysql", "MySQLdb": "mysqlclient"}
_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_storage_url(url: Any) -> str:
    """``url`` if it is a database URL whose driver is installed, and whose SQLite file (if it
    exists) is a database; otherwise one line naming the value and the expected forms.

    Raises:
        ConfigError: not a URL, an unknown database, a missing driver, or a file that is not
            an SQLite database.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"storage = {url!r} is invalid: expected a database URL: {URL_FORMS}")
    try:
        parsed = make_url(url)
        shown = parsed.render_as_string(hide_password=True)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as err:
        raise ConfigError(f"storage = {url!r} is invalid ({err}): expected a database URL: "
                          f"{URL_FORMS}") from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        module = (err.name or "").split(".")[0]
        raise ConfigError(f"storage = {shown!r} needs the database driver {module!r}, which is "
                          f"not installed: pip install {DRIVERS.get(module, module)}") from None
    path = sqlite_path(url)
    if path is not None and path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            raise ConfigError(f"storage = {url!r} is invalid: {path} is not an SQLite database "
                              f"(it starts with {head[:12]!r}); expected {URL_FORMS}, naming a "
                              "study database or a new file")
    return url


def open_storage(url: str, *, heartbeat_interval: int = 10, grace_period: int = 60,
                 max_retry: int | None = 3) -> RDBStorage:
    """An :class:`optuna.storages.RDBStorage` with heartbeats and retry of lost trials.

    Args:
        url: an SQLAlchemy URL Optuna accepts (:data:`URL_FORMS`; a plain ``postgresql://``
            URL uses psycopg 3, the ``postgres`` extra), checked by :func:`check_storage_url`.
        heartbeat_interval: seconds between heartbeats of a running trial.
        grace_period: seconds without heartbeat after which a trial counts as lost.
        max_retry: how often one lost trial is queued again (``None``: without limit).

    Raises:
        ConfigError: the URL is unusable (:func:`check_storage_url`) or the database cannot be
            reached.
    """
    check_storage_url(url)
    engine_kwargs: dict[str, Any] = {}
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite(path)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_TIMEOUT_S}
    elif not url.startswith("sqlite"):
        engine_kwargs["pool_pre_ping"] = True
    with warnings.catch_warnings(), \
            unreachable(url, optuna.exceptions.StorageInternalError):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry))


@contextlib.contextmanager
def unreachable(url: str, *errors: type[BaseException]) -> Iterator[None]:
    """Turn a failed connection (SQLAlchemy's ``OperationalError``, or ``errors`` that wrap
    it) into one line naming the database."""
    try:
        yield
    except (OperationalError, *errors) as err:
        shown = make_url(url).render_as_string(hide_password=True)
        root: BaseException = err
        while root.__cause__ is not None:  # Optuna wraps SQLAlchemy, which wraps the driver
            root = root.__cause__
        cause = (str(root).strip().splitlines() or [type(root).__name__])[0][:300]
        raise ConfigError(f"storage = {shown!r}: cannot open the database ({cause}); expected "
                          f"a reachable database: {URL_FORMS}") from None


def make_sampler(space: TuneConfig, *, seed: int, multi_objective: bool):
    """The study's sampler; TPE is multivariate and uses a constant liar for parallel workers."""
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=space.startup_trials, multivariate=True,
            constant_liar=True)


def make_pruner(space: TuneConfig, *, multi_objective: bool):
    """The study's pruner (``NopPruner`` for multi-objective studies, which cannot prune)."""
    if multi_objective or space.pruner == "none":
        return optuna.pruners.NopPruner()
    if space.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, space.warmup_epochs))
    return optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials,
                                       n_warmup_steps=space.warmup_epochs)


def open_study(exp: Experiment, *, storage: str | RDBStorage, study_name: str,
               seed: int | None = None, space: TuneConfig | None = None) -> optuna.Study:
    """Create the study, or load it if it exists (re-running a command continues its study).

    The objective names are stored as the study's metric names (the dashboard shows them) and
    the base experiment as the user attribute ``experiment``.

    Raises:
        ConfigError: the stored study optimises other objectives than this experiment.
    """
    space = exp.tune if space is None else space
    names = list(space.objective_names(get_task(exp.experiment.task)))
    directions = space.directions(get_task(exp.experiment.task))
    multi = len(directions) > 1
    if isinstance(storage, str):
        storage = open_storage(storage, heartbeat_interval=space.heartbeat_interval,
                               grace_period=space.grace_period, max_retry=space.max_retry)
    study = optuna.create_study(
        storage=storage, study_name=study_name, directions=directions, load_if_exists=True,
        sampler=make_sampler(space, seed=exp.seed if seed is None else seed,
                             multi_objective=multi),
        pruner=make_pruner(space, multi_objective=multi))
    stored = [d.name.lower() for d in study.directions]
    if stored != directions:
        raise ConfigError(f"study {study_name!r} in {storage.url} optimises {stored}, not "
                          f"{directions} ({', '.join(names)}): choose another --study-name")
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    elif list(study.metric_names) != names:
        raise ConfigError(f"study {study_name!r} in {storage.url} optimises "
                          f"{list(study.metric_names)}, not {names}: choose another --study-name")
    current = to_plain(exp)
    stored_exp = study.user_attrs.get("experiment")
    if stored_exp is None:
        study.set_user_attr("experiment", current)
    else:
        changed = settings_diff(stored_exp, current)
        if changed:
            raise ConfigError(
                f"study {study_name!r} in {storage.url} was run with other settings: "
                f"{', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''} differ; "
                "its trials would not be comparable: choose another --study-name")
    return study


#: ``[tune]`` keys that may change between runs of one study (how, not what, is searched)
RUN_KEYS = ("n_trials", "workers", "storage", "heartbeat_interval", "grace_period", "max_retry",
            "sampler", "pruner", "startup_trials", "warmup_epochs")


def settings_diff(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two plain experiments (run-only keys ignored)."""
    def flat(node: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                out.update(flat(value, f"{prefix}{key}."))
            return out
        return {prefix[:-1]: node}
    a, b = flat(stored), flat(current)
    ignored = {f"tune.{k}" for k in RUN_KEYS} | {"experiment.description"}
    return sorted(k for k in set(a) | set(b) if k not in ignored and a.get(k) != b.get(k))
