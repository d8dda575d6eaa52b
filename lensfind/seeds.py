"""Every random stream of a run comes from ``(master seed, stream, keys...)``.

The streams (:data:`STREAMS`) keep randomness for different purposes independent for one master
seed: fold assignment, weight initialisation, shuffling, augmentation, validation splits and
Monte-Carlo dropout. A stream is a NumPy ``SeedSequence`` of the integers
``[seed, STREAMS[stream], *keys]``, so adding a fold, an epoch or a batch never shifts another
stream's numbers, and a resumed run draws exactly what an uninterrupted one drew.
"""
from __future__ import annotations

import numpy as np

#: stream name -> id (never renumber: saved runs record seeds derived from these)
STREAMS = {"folds": 1, "init": 2, "shuffle": 3, "augment": 4, "validation": 5,
           "mc_dropout": 6}


def _ints(seed: int, keys) -> list[int]:
    return [int(seed)] + [STREAMS[k] if isinstance(k, str) else int(k) for k in keys]


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 32-bit seed derived from a master seed and integer/str keys (``SeedSequence``)."""
    return int(np.random.SeedSequence(_ints(seed, keys)).generate_state(1)[0])


def rng_for(seed: int, *keys: int | str) -> np.random.Generator:
    """NumPy generator for ``(seed, *keys)``, e.g. ``rng_for(seed, "augment", fold, epoch, b)``."""
    return np.random.default_rng(np.random.SeedSequence(_ints(seed, keys)))


def set_random_seed(seed: int) -> None:
    """``keras.utils.set_random_seed`` without importing TensorFlow on other backends.

    Keras seeds TensorFlow whenever it is installed (importing it, ~2 s and much memory, even
    under JAX); this does the rest (Python, NumPy, Keras' global seed generator, torch) and
    seeds TensorFlow only on the TensorFlow backend.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(int(seed))
        return
    import random

    seed = int(seed)
    try:  # Keras internals (keras~=3.15): what keras.utils.set_random_seed does first
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils
        global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
        global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    except (ImportError, AttributeError):  # pragma: no cover - another Keras layout
        keras.utils.set_random_seed(seed)
        return
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":  # pragma: no cover - not a lensfind backend in CI
        import torch
        torch.manual_seed(seed)
