"""Model zoo: upsampling stems, pretrained backbones, baselines and heads.

The names below load their modules on first use (``import lensfind.zoo`` itself stays light;
:mod:`lensfind.zoo.config` checks names against the registries and so imports Keras)::

    from lensfind.zoo import build_model, compile_model, load_model, BACKBONES, HEADS
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "build_model": "lensfind.zoo.model",
    "compile_model": "lensfind.zoo.model",
    "load_model": "lensfind.zoo.model",
    "resolve_input_size": "lensfind.zoo.model",
    "BACKBONES": "lensfind.zoo.backbones",
    "BackboneSpec": "lensfind.zoo.backbones",
    "describe_zoo": "lensfind.zoo.describe",
    "HEADS": "lensfind.zoo.heads",
    "DropoutSampler": "lensfind.zoo.sampling",
    "HeadSpec": "lensfind.zoo.trunk",
    "head_trunk": "lensfind.zoo.trunk",
    "MCDropout": "lensfind.zoo.layers",
    "set_mc_dropout": "lensfind.zoo.layers",
    "ModelConfig": "lensfind.zoo.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'lensfind.zoo' has no attribute {name!r}")
