"""One study, many worker processes (on one machine or several sharing a database).

The study's size is fixed by *slots*: ``fill_queue`` adds waiting trials until the study holds
``n_trials`` that are complete, pruned, running or waiting (a trial that failed does not hold a
slot, so re-running the command replaces it; a trial lost with its worker is replaced by its
retry). Workers only ever run queued trials -- claiming one is a single atomic
``WAITING -> RUNNING`` update in the database -- so K workers finish exactly the requested
trials, however they interleave. A worker with nothing left to claim waits while other trials
still run: if one of their workers dies, its trial goes stale after the grace period and its
retry is queued, and a waiting worker runs it.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import socket
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import TrialState

from lensfind.config import Experiment
from lensfind.tune.objective import make_objective
from lensfind.tune.storage import exclusive, make_sampler, open_study

log = logging.getLogger("lensfind.tune")

#: states that hold one of the study's ``n_trials`` slots
SLOT_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


@dataclasses.dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs (picklable: it crosses a ``spawn``).

    Attributes:
        experiment: the resolved base experiment (``--small`` and ``--set`` applied).
        storage_url: the study database.
        study_name: the study.
        objective: ``"keras"`` (train the experiment's network) or ``"synthetic"`` (a cheap
            closed-form stand-in with the same search space; tests and demos of the machinery).
        objective_options: keyword arguments of the objective (e.g. ``{"seconds": 0.5}``).
        runs_dir: root of run directories (trial runs go under ``<runs>/<name>/tune/trials``).
        poll_s: seconds between looks at the study while waiting for other workers' trials.
        wait_for_running: keep polling while other workers' trials run (to retry them if their
            worker dies); ``False`` ends the worker when the queue is empty.
    """
    experiment: Experiment
    storage_url: str
    study_name: str
    objective: str = "keras"
    objective_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    runs_dir: str = "runs"
    poll_s: float = 1.0
    wait_for_running: bool = True


def worker_id() -> str:
    """``host:pid`` of this process, stored on each trial it runs (user attribute ``worker``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def count_slots(study: optuna.Study) -> int:
    """Trials that hold a slot (complete, pruned, running, waiting)."""
    return len(study.get_trials(deepcopy=False, states=SLOT_STATES))


def fill_queue(study: optuna.Study, n_trials: int) -> int:
    """Queue empty trials until the study holds ``n_trials`` slots; return how many were added.

    Waiting trials carry no fixed parameters: the sampler suggests them when a worker runs them,
    from everything finished by then.
    """
    missing = max(0, int(n_trials) - count_slots(study))
    for _ in range(missing):
        study.enqueue_trial({}, user_attrs={"queued_by": worker_id()})
    return missing


def claim_waiting_trial(study: optuna.Study) -> int | None:
    """Atomically move one waiting trial to running; its id, or ``None`` if none is left."""
    storage = study._storage
    with exclusive(study):
        for frozen in storage.get_all_trials(study._study_id, deepcopy=False,
                                             states=(TrialState.WAITING,)):
            try:
                if storage.set_trial_state_values(frozen._trial_id, state=TrialState.RUNNING):
                    return frozen._trial_id
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
    return None


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark trials whose heartbeat stopped as failed and queue their retries."""
    with exclusive(study), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class Heartbeat:
    """Record a trial's heartbeat now and then every ``interval`` seconds until stopped."""
    def __init__(self, storage: Any, trial_id: int):
        self.storage = storage
        self.trial_id = trial_id
        self.interval = (storage.get_heartbeat_interval()
                         if isinstance(storage, BaseHeartbeat) else None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Heartbeat":
        if self.interval:
            self.storage.record_heartbeat(self.trial_id)
            self._thread = threading.Thread(target=self._beat, daemon=True,
                                            name=f"heartbeat-{self.trial_id}")
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as err:  # a busy database: try again next beat
                log.warning("heartbeat of trial id %d failed: %s", self.trial_id, err)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _format_values(study: optuna.Study, values: Any) -> str:
    names = study.metric_names or [f"value{i}" for i in range(len(study.directions))]
    values = values if isinstance(values, (list, tuple)) else [values]
    return ", ".join(f"{n}={float(v):.5g}" for n, v in zip(names, values))


def run_trial(study: optuna.Study, trial_id: int,
              objective: Callable[[optuna.Trial], Any]) -> TrialState:
    """Run one claimed trial under a heartbeat and tell the study how it ended.

    The objective's ``optuna.TrialPruned`` ends the trial as pruned; any other exception fails
    it (the message is kept as the user attribute ``error``) without stopping the worker;
    ``KeyboardInterrupt`` fails it and stops the worker.
    """
    trial = optuna.Trial(study, trial_id)
    trial.set_user_attr("worker", worker_id())
    values: Any = None
    state = TrialState.FAIL
    interrupted: BaseException | None = None
    with Heartbeat(study._storage, trial_id):
        try:
            values = objective(trial)
            state = TrialState.COMPLETE
        except optuna.TrialPruned as err:
            state = TrialState.PRUNED
            log.info("trial %d pruned: %s", trial.number, err)
        except KeyboardInterrupt as err:
            interrupted = err
            trial.set_user_attr("error", "interrupted")
        except Exception as err:
            trial.set_user_attr("error", f"{type(err).__name__}: {err}"[:2000])
            log.error("trial %d failed:\n%s", trial.number, traceback.format_exc())
    try:
        if state == TrialState.COMPLETE:
            state = study.tell(trial, values, skip_if_finished=True).state
            if state == TrialState.COMPLETE:
                log.info("trial %d complete: %s  %s", trial.number,
                         _format_values(study, values), trial.params)
        else:
            study.tell(trial, state=state, skip_if_finished=True)
    except optuna.exceptions.UpdateFinishedTrialError:
        # another worker took this trial for lost (no heartbeat for the grace period) and
        # queued its retry; the retry stands in for it
        log.warning("trial %d was meanwhile marked lost by another worker; its retry counts",
                    trial.number)
        state = TrialState.FAIL
    if interrupted is not None:
        raise interrupted
    return state


def run_worker(spec: WorkerSpec, index: int = 0, *,
               objective: Callable[[optuna.Trial], Any] | None = None) -> dict[str, int]:
    """Run queued trials of the study until none is waiting or running; counts by end state.

    Args:
        spec: what to run.
        index: worker number (varies the sampler seed between workers).
        objective: the objective function; default the one named by ``spec.objective``.
    """
    exp = spec.experiment
    study = open_study(exp, storage=spec.storage_url, study_name=spec.study_name)
    # a different sampler seed per worker and per continuation, reproducible for one worker
    study.sampler = make_sampler(
        exp.tune, seed=(exp.seed + 7919 * index + len(study.get_trials(deepcopy=False))) % 2**32,
        multi_objective=len(study.directions) > 1)
    if objective is None:
        objective = make_objective(spec)
    counts = {"complete": 0, "pruned": 0, "fail": 0}
    while True:
        fail_stale_trials(study)
        trial_id = claim_waiting_trial(study)
        if trial_id is None:
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if not running or not spec.wait_for_running:
                break
            time.sleep(spec.poll_s)
            continue
        state = run_trial(study, trial_id, objective)
        counts[state.name.lower()] = counts.get(state.name.lower(), 0) + 1
    return counts


def _worker_entry(spec: WorkerSpec, index: int) -> None:
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [tune worker {index} %(process)d] %(message)s")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    counts = run_worker(spec, index)
    log.info("worker %d done: %s", index, counts)


def spawn_workers(spec: WorkerSpec, k: int) -> list[multiprocessing.process.BaseProcess]:
    """Start ``k`` worker processes (``spawn``: a fresh interpreter each, safe with TF)."""
    ctx = multiprocessing.get_context("spawn")
    procs = []
    for index in range(k):
        proc = ctx.Process(target=_worker_entry, args=(spec, index),
                           name=f"lensfind-tune-{index}")
        proc.start()
        procs.append(proc)
    return procs


def join_workers(procs: Sequence[multiprocessing.process.BaseProcess],
                 timeout: float | None = None) -> list[int | None]:
    """Wait for the workers (up to ``timeout`` seconds in all); their exit codes."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for proc in procs:
        proc.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return [proc.exitcode for proc in procs]


def run_workers(spec: WorkerSpec, k: int, *, timeout: float | None = None) -> list[int | None]:
    """Run ``k`` workers to the end: in this process when ``k == 1``, else spawned."""
    if k == 1:
        run_worker(spec, 0)
        return [0]
    procs = spawn_workers(spec, k)
    try:
        return join_workers(procs, timeout)
    except KeyboardInterrupt:
        for proc in procs:
            proc.join(10)
        raise

