"""The zoo as a table: parameter counts measured by building each network (``python -m lensfind.zoo``)."""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import keras

from lensfind.files import markdown_table
from lensfind.zoo.backbones import BACKBONES, RANGE_TEXT, count_params
from lensfind.zoo.config import ModelConfig
from lensfind.zoo.model import BACKBONE_LAYER, build_model


def measure_params(name: str, size: int | None = None) -> tuple[int, int]:
    """``(backbone, whole model)`` parameter counts of ``name`` at ``size`` (default size if
    None): random weights (no download), default :class:`ModelConfig` otherwise (classifier
    head, 100x100 cutouts)."""
    config = ModelConfig(backbone=name, regime="random", weights="none", input_size=size or 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_model(config=config)
    counts = count_params(model.get_layer(BACKBONE_LAYER))[0], count_params(model)[0]
    del model
    keras.backend.clear_session()
    return counts


def _millions(n: int | None) -> str:
    return "--" if n is None else f"{n / 1e6:.1f}M"


def describe_zoo(names: Iterable[str] | None = None, *, size: int | None = None,
                 measure: bool = True) -> str:
    """Markdown table of the registry: name, origin, weights, input range, sizes, parameters.

    Args:
        names: backbones to list (all by default).
        size: input side at which parameters are counted; None: each backbone's default size.
        measure: build each network (``weights=None``) to count parameters of the backbone and
            of the whole model (stem + backbone + classifier head); slow for NASNetLarge. If
            False these columns are left out.
    """
    names = list(BACKBONES if names is None else names)
    at = "default size" if size is None else f"{size}x{size}"
    header = ["name", "network", "ImageNet weights", "input range", "min size", "default size"]
    if measure:
        header += [f"backbone parameters ({at})", f"whole model ({at})"]
    header.append("thesis Table 5-1 (with ImageNet top)")
    rows = []
    for name in names:
        spec = BACKBONES[name]
        row: list[Any] = [f"`{name}`", spec.keras_name, "yes" if spec.pretrained else "no",
                          RANGE_TEXT[spec.preprocess], spec.min_size, spec.default_size]
        if measure:
            row += [_millions(n) for n in measure_params(name, size)]
        row.append(_millions(spec.paper_params))
        rows.append(row)
    return markdown_table(header, rows).rstrip("\n")
