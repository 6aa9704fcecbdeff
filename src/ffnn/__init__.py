"""ffnn: feed-forward neural networks with hand-derived backpropagation, in NumPy.

The layered model of the classic course material as real software: layers and losses whose
gradients are derived by hand (the delta recursion), optimizers and schedules, a training
loop that protects the user, gradient checks, data sets, a command line and a playground.

>>> import numpy as np, ffnn
>>> from ffnn import layers
>>> net = ffnn.Sequential([layers.Linear(2, 2, rng=0), layers.ReLU(), layers.Linear(2, 1, rng=1)])
>>> net(np.ones((3, 2), dtype=np.float32)).shape
(3, 1)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import init, layers, losses
from .builder import mlp
from .errors import (
    ConfigError,
    DataError,
    FfnnError,
    LabelError,
    ModelFileError,
    ShapeError,
    TrainingDivergedError,
)
from .gradcheck import GradcheckReport, gradcheck
from .model import Sequential
from .parameter import Parameter
from .serialize import load, save

__version__ = "0.1.0"

__all__ = [
    "__version__", "Parameter", "Sequential", "mlp", "gradcheck", "GradcheckReport", "save", "load",
    "Trainer", "fit", "evaluate", "History", "Callback", "EarlyStopping", "Recipe",
    "FfnnError", "ShapeError", "LabelError", "DataError", "ModelFileError", "ConfigError",
    "TrainingDivergedError",
    "layers", "losses", "init", "optim", "schedules", "data", "metrics", "linear_models",
    "estimators", "experiments", "catalog", "recipe", "callbacks", "checkpoint",
    "export_onnx", "to_torch", "from_torch", "sweep", "sweeps", "distributed", "augment",
]

# Imported on first use so that `import ffnn` loads NumPy and the core only.
_LAZY_ATTRIBUTES = {"Trainer": "train", "fit": "train", "evaluate": "train", "History": "history",
                    "Callback": "callbacks", "EarlyStopping": "callbacks", "Recipe": "recipe",
                    "export_onnx": "onnx_export", "to_torch": "torch_interop", "from_torch": "torch_interop",
                    "sweep": "sweeps"}
_LAZY_MODULES = {"optim", "schedules", "data", "metrics", "linear_models", "estimators", "experiments",
                 "plots", "cli", "train", "catalog", "recipe", "callbacks", "checkpoint", "history", "sampling",
                 "onnx_export", "torch_interop", "sweeps", "distributed", "augment"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRIBUTES:
        return getattr(import_module(f".{_LAZY_ATTRIBUTES[name]}", __name__), name)
    if name in _LAZY_MODULES:
        return import_module(f".{name}", __name__)
    raise AttributeError(f"module 'ffnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
