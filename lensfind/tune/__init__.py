"""Optuna tuning of an experiment's dropout rates (``lensfind tune``, ``lensfind dashboard``).

The ``[tune]`` table is :mod:`lensfind.config.tune`. Modules: ``space`` (trial -> experiment), ``objective``
(experiment -> objective values), ``holdout`` (the fixed train/validation fit), ``pruning``
(Keras 3 pruning callback), ``storage`` (study database, heartbeats, retries), ``workers`` (one
study, many processes), ``report`` (plots, best configuration as an experiment file),
``dashboard`` (optuna-dashboard on the study), ``run`` (:func:`~lensfind.tune.run.tune` and
:func:`~lensfind.tune.run.tune_demo`). Objectives and the pruning monitor default to the task's
(:attr:`lensfind.tasks.base.Task.tune_objectives`).

Importing this package stays cheap: Optuna and Keras are imported by the modules that use them.
"""
