"""pytest plugin: make TensorFlow impossible to import, as on a JAX-only GPU machine.

``pytest -p tests.no_tensorflow`` (used by ``make test-jax`` together with ``KERAS_BACKEND=jax``)
puts a finder in front of ``sys.meta_path`` that refuses ``tensorflow``, ``tf_keras`` and
``tensorboard``, so any code path that still needs TensorFlow fails loudly here instead of on the
lent GPU machine, which has JAX and no TensorFlow at all. Keras itself treats the missing module
as "TensorFlow not installed". The NumPy substrate of tensorflow-probability still imports.
"""
from __future__ import annotations

import sys

BLOCKED = ("tensorflow", "tf_keras", "tensorboard")


class _NoTensorFlow:
    """Meta-path finder refusing the ``BLOCKED`` top-level packages."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/no_tensorflow.py"
                                      ": the JAX test run has no TensorFlow)", name=name)
        return None


def install() -> None:
    """Block TensorFlow in this process (idempotent); refuse if it is already imported."""
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    if loaded:
        raise RuntimeError(f"TensorFlow is already imported ({loaded[0]}): block it earlier")
    if not any(isinstance(f, _NoTensorFlow) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoTensorFlow())


install()


def pytest_report_header(config):
    return "tests/no_tensorflow.py: tensorflow, tf_keras and tensorboard cannot be imported"
