"""Several worker processes on one study: nothing lost, nothing run twice, killed trials retried.

The objective is :class:`~lensfind.tune.objective.SyntheticObjective` (real search space, real
storage and workers, a closed-form value instead of a network, ``seconds`` of sleep per trial).
"""
from __future__ import annotations

import os
import signal
import time

import optuna
import pytest
from optuna.trial import TrialState

from lensfind.tune.storage import default_storage_url, open_study
from lensfind.tune.workers import (WorkerSpec, count_slots, fill_queue, join_workers,
                                   spawn_workers)

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]


def _states(study):
    return [t.state for t in study.get_trials(deepcopy=False)]


def test_two_sqlite_workers_finish_every_requested_trial(tmp_path, make_exp):
    exp = make_exp("two-workers", pruner="median")
    url = default_storage_url(exp, tmp_path)
    study = open_study(exp, storage=url, study_name="s")
    assert fill_queue(study, 12) == 12
    spec = WorkerSpec(exp, url, "s", objective="synthetic",
                      objective_options={"seconds": 0.2}, runs_dir=str(tmp_path))
    procs = spawn_workers(spec, 2)
    assert join_workers(procs, timeout=120) == [0, 0]

    trials = study.get_trials(deepcopy=False)
    assert len(trials) == 12
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 2
    # both workers took part, and each trial was run by exactly one of them
    workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}
    assert workers == {str(p.pid) for p in procs}
    assert all(len(t.intermediate_values) >= 1 for t in trials)

    # re-running continues the same study: complete -> nothing to add; more trials -> the rest
    again = open_study(exp, storage=url, study_name="s")
    assert fill_queue(again, 12) == 0
    assert fill_queue(again, 14) == 2
    assert join_workers(spawn_workers(spec, 2), timeout=120) == [0, 0]
    assert count_slots(again) == 14 and len(again.trials) == 14
    assert TrialState.WAITING not in _states(again)


def _kill_one_worker_mid_trial(study, procs, wait_for):
    """SIGKILL the worker of the first trial that has run for a second; return its number."""
    def running_long_enough():
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if "worker" in t.user_attrs and t.datetime_start is not None and \
                    (time.time() - t.datetime_start.timestamp()) > 1.0:
                return t
        return None
    victim = wait_for(running_long_enough, timeout=60, what="a trial running for 1 s")
    pid = int(victim.user_attrs["worker"].rsplit(":", 1)[1])
    assert pid in {p.pid for p in procs}
    os.kill(pid, signal.SIGKILL)
    return victim.number, pid


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_worker_trial_is_retried_and_study_completes(backend, tmp_path, request,
                                                            make_exp, wait_for):
    exp = make_exp(f"kill-{backend}")
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = default_storage_url(exp, tmp_path)
    name = f"kill-{backend}-{os.getpid()}-{time.time_ns()}"
    n_trials = 6
    study = open_study(exp, storage=url, study_name=name)
    fill_queue(study, n_trials)
    spec = WorkerSpec(exp, url, name, objective="synthetic",
                      objective_options={"seconds": 3.0}, runs_dir=str(tmp_path), poll_s=0.5)
    procs = spawn_workers(spec, 3)
    try:
        killed_number, killed_pid = _kill_one_worker_mid_trial(study, procs, wait_for)
        codes = dict(zip([p.pid for p in procs], join_workers(procs, timeout=120)))
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    assert codes.pop(killed_pid) == -signal.SIGKILL
    assert list(codes.values()) == [0, 0]

    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    # the killed trial failed (its heartbeat stopped) and a retry with its parameters finished
    assert by_number[killed_number].state == TrialState.FAIL
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed_number]
    assert len(retries) == 1
    retry = retries[0]
    assert retry.state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert retry.params == by_number[killed_number].params
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(retry) == [killed_number]
    # every trial accounted for: the requested number finished, no other failure, nothing left
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n_trials
    assert [t.number for t in trials if t.state == TrialState.FAIL] == [killed_number]
    assert len(trials) == n_trials + 1
    assert retry.user_attrs["worker"] != f"{by_number[killed_number].user_attrs['worker']}"
