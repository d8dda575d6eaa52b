"""Tasks: what is learned and how it is judged, one module per task (see :mod:`.base`).

:data:`TASKS` is the one registry of task names (``[experiment] task``); every other list of
task names is derived from it. Adding a task is one module here with a
:class:`~lensfind.tasks.base.Task` subclass, one entry below, and one test file.
"""
from __future__ import annotations

from lensfind.tasks.base import FoldContext, Task
from lensfind.tasks.classify import ClassifyTask
from lensfind.tasks.regress import RegressTask
from lensfind.tasks.substructure import SubstructureTask
from lensfind.validation import lookup

#: task name -> Task
TASKS: dict[str, Task] = {task.name: task for task in (ClassifyTask(), RegressTask(),
                                                        SubstructureTask())}


def get_task(name: str) -> Task:
    """The :class:`Task` for ``experiment.task`` (unknown names are refused, listing the known)."""
    return lookup(TASKS, name, "experiment.task")


__all__ = ["TASKS", "FoldContext", "Task", "get_task"]
