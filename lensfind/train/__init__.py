"""Training engines: the fit recipe and k-fold cross-validation, with resume.

* :mod:`.fit` -- :func:`~lensfind.train.fit.fit_split`, the one training recipe (CV folds,
  tuning hold-out fits, benchmarks), and :func:`~lensfind.train.fit.fit_fold` (resumable fit);
* :mod:`.cv` -- :func:`~lensfind.train.cv.run_cv`: folds, one fit per fold, fold results;
* :mod:`.summary` -- one run's summary (:func:`~lensfind.train.summary.aggregate`) and several
  runs side by side (:func:`~lensfind.train.summary.compare_runs`);
* :mod:`.oof` (out-of-fold CSVs), :mod:`.rundir` (run directories), :mod:`.callbacks`
  (checkpoints, early stopping, progress), :mod:`.distribute` (precision and devices),
  :mod:`.sweep` (one run per value of a ``[sweep]`` table).

Everything task-specific is asked of :mod:`lensfind.tasks`; nothing here compares task names.
"""
