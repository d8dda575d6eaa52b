"""Why a run may not learn, said plainly: printed when a cross-validation starts and kept in its
summary (``summary.json`` ``caveats``, ``summary.md``), so that a CPU-sized ``[small]`` run at
chance is not mistaken for a measurement of the network.

Each rule is a function ``(experiment, n_train) -> message or None`` in :data:`RULES`.
"""
from __future__ import annotations

from collections.abc import Callable

from lensfind.zoo.backbones import BACKBONES
from lensfind.zoo.model import resolve_weights

#: image-epochs (training images x epochs) below which an ImageNet-size network trained from
#: random initialisation is not expected to learn: the thesis trained on ~24,000 images for up
#: to 30 epochs (~700,000); a tenth of that is taken as the least for a run to mean anything.
MIN_RANDOM_INIT_IMAGE_EPOCHS = 70_000


def _random_features(exp, n_train: int) -> str | None:
    spec = BACKBONES.get(exp.model.backbone)
    if spec is None or not spec.pretrained or exp.model.regime == "random" \
            or resolve_weights(exp.model) is not None:
        return None
    what = "fixed random features" if exp.model.regime == "frozen" else \
        "random weights with batch normalisation frozen at its initial statistics"
    return (f"backbone {exp.model.backbone!r} runs regime {exp.model.regime!r} with RANDOM "
            f"weights (model.weights = {exp.model.weights!r}: ImageNet weights are not "
            f"downloaded here), so the stem and head train on {what}. Such a run shows that the "
            "pipeline works, not what pretrained features do: expect ROC AUC well below a "
            "pretrained run's (benchmarks/bench_pretrained.py measured frozen random Xception "
            "0.65 against 0.78 for frozen ImageNet weights on the same cutouts). Set "
            "model.weights to a local ImageNet weights file to measure the pretrained regime.")


def _random_init_too_short(exp, n_train: int) -> str | None:
    spec = BACKBONES.get(exp.model.backbone)
    image_epochs = n_train * exp.train.epochs
    if spec is None or not spec.pretrained or exp.model.regime != "random" \
            or image_epochs >= MIN_RANDOM_INIT_IMAGE_EPOCHS:
        return None
    return (f"backbone {exp.model.backbone!r} trains from random initialisation on {n_train:,} "
            f"images for {exp.train.epochs} epochs ({image_epochs:,} image-epochs, fewer than "
            f"the {MIN_RANDOM_INIT_IMAGE_EPOCHS:,} an ImageNet-size network needs to start "
            "learning): expect results near chance. A run this size checks that the pipeline "
            "works; it does not measure the network.")


#: rule name -> rule
RULES: dict[str, Callable[..., str | None]] = {
    "random_features": _random_features,
    "random_init_too_short": _random_init_too_short,
}


def run_caveats(exp, n_train: int) -> list[str]:
    """The messages of every rule that applies to ``exp`` trained on ``n_train`` images."""
    return [msg for rule in RULES.values() if (msg := rule(exp, n_train)) is not None]
