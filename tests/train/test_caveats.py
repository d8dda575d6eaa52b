"""Plain warnings for runs that cannot learn (issue #17: `make cv-all SMALL=1` rows at chance)."""
import pytest

from lensfind.config import load_experiment
from lensfind.train.caveats import MIN_RANDOM_INIT_IMAGE_EPOCHS, run_caveats
from lensfind.train.summary import summary_markdown


@pytest.mark.parametrize("name, small, expected", [
    ("cv-xception", True, ["RANDOM weights"]),           # frozen, weights = "none" in [small]
    ("cv-xception-finetune", True, ["RANDOM weights"]),
    ("cv-xception", False, []),                          # ImageNet weights: nothing to say
    ("cv-xception-random", True, ["random initialisation"]),
    ("cv-lensflow", True, []),                           # a baseline made to train from scratch
    ("reference-find", False, []),
])
def test_caveats_name_the_reason_a_run_cannot_learn(name, small, expected):
    exp = load_experiment(f"experiments/{name}.toml", small=small)
    caveats = run_caveats(exp, n_train=200)
    assert len(caveats) == len(expected)
    for text, phrase in zip(caveats, expected):
        assert phrase in text and exp.model.backbone in text


def test_a_long_enough_random_init_run_has_no_caveat():
    exp = load_experiment("experiments/cv-xception-random.toml", small=True)
    n_train = MIN_RANDOM_INIT_IMAGE_EPOCHS // exp.train.epochs
    assert run_caveats(exp, n_train - 1) and not run_caveats(exp, n_train)


def test_summary_markdown_prints_the_caveats():
    summary = {"model": "xception", "regime": "frozen", "parameters": 1, "trainable_parameters": 1,
               "metric_order": [], "headers": {}, "metrics": {}, "folds_finished": 1,
               "folds": 3, "task": "classify", "caveats": ["random features, expect chance"]}
    text = summary_markdown([summary])
    assert "**Caveat (xception, frozen):** random features, expect chance" in text
