"""lensfind.seeds: streams are independent, stable and reproducible."""
from __future__ import annotations

import numpy as np

from lensfind.seeds import STREAMS, derive_seed, rng_for


def test_streams_are_stable_and_distinct():
    # saved runs record seeds derived from these ids: they must never be renumbered
    assert STREAMS == {"folds": 1, "init": 2, "shuffle": 3, "augment": 4, "validation": 5,
                       "mc_dropout": 6}
    assert derive_seed(7, "init", 0) == int(np.random.SeedSequence([7, 2, 0]).generate_state(1)[0])
    seeds = {derive_seed(7, name, 0) for name in STREAMS}
    assert len(seeds) == len(STREAMS)


def test_generators_reproduce_their_draws():
    a = rng_for(3, "augment", 1, 2, 3).random(4)
    np.testing.assert_array_equal(a, rng_for(3, "augment", 1, 2, 3).random(4))
    assert not np.allclose(a, rng_for(3, "augment", 1, 2, 4).random(4))
