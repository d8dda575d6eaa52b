"""Optuna tuning of an experiment's dropout rates (``lensfind tune``, ``lensfind dashboard``).

Modules: ``config`` (the ``[tune]`` table), ``space`` (trial -> experiment), ``objective``
(experiment -> objective values), ``holdout`` (the fixed train/validation fit), ``pruning``
(Keras 3 pruning callback), ``storage`` (study database, heartbeats, retries), ``workers`` (one
study, many processes), ``report`` (plots, best configuration as an experiment file),
``dashboard`` (optuna-dashboard on the study), ``run`` (the command, :func:`~lensfind.tune.run.tune`
and :func:`~lensfind.tune.run.tune_demo`).

Importing this package stays cheap: Optuna and Keras are imported by the modules that use them.
"""
