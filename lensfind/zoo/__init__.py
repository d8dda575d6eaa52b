"""Model zoo: upsampling stems, pretrained backbones, baselines and heads.

Importing this package is cheap (configs import :mod:`lensfind.zoo.config` without Keras); the
names below load their modules on first use::

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
