"""Data sets: a registry of named sets, the user's own files, and the tools around them.

>>> from ffnn import data
>>> ds = data.load("mnist-5k")
>>> ds.X_train.shape, ds.X_test.shape, ds.n_classes
((4000, 784), (1000, 784), 10)

``load`` takes a registered name (see :func:`list_datasets`) or the path of a ``.csv`` /
``.npz`` file. Generated sets take options: ``n``, ``noise``, ``test_fraction`` and ``seed``
for the TensorFlow Playground sets (``load("spiral", noise=0.2, seed=1)``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._typing import Seed
from .._validation import make_rng
from ..errors import ConfigError, DataError
from . import mnist as _mnist
from . import toy
from .batches import BatchGatherer, minibatch_indices
from .dataset import Dataset, train_test_split
from .download import cache_dir
from .idx import read_idx, write_idx
from .preprocessing import MinMaxScaler, StandardScaler, from_one_hot, one_hot, scaler_from_dict
from .tabular import load_csv, load_file, load_npz

__all__ = ["Dataset", "load", "list_datasets", "info", "download", "cache_dir", "toy",
           "read_idx", "write_idx", "load_csv", "load_npz", "train_test_split",
           "minibatch_indices", "BatchGatherer", "MinMaxScaler", "StandardScaler",
           "scaler_from_dict", "one_hot", "from_one_hot"]


@dataclass(frozen=True)
class _Entry:
    description: str
    loader: Callable[..., Dataset]
    options: dict[str, Any] = field(default_factory=dict)
    source: str = ""


_PLAYGROUND = "TensorFlow Playground's generator (Apache-2.0), reimplemented"
_TOY_OPTIONS = {"n": 500, "noise": 0.0, "test_fraction": 0.5}


def _playground(name: str, generator: Callable, task: str) -> Callable[..., Dataset]:
    def loader(seed: Seed, n: int, noise: float, test_fraction: float) -> Dataset:
        rng = make_rng(seed)
        X, y = generator(n, noise, rng)
        train, test = train_test_split(len(X), test_fraction, rng)  # random, as the playground
        classes = 2 if task == "classification" else None
        return Dataset(name, X[train], y[train], X[test], y[test], task, classes,
                       description=f"{_REGISTRY[name].description}; {_PLAYGROUND}")
    return loader


def _xor_table(seed: Seed) -> Dataset:
    X, y = toy.xor_table()
    return Dataset("xor-table", X, y, X.copy(), y.copy(), "classification", 2,
                   description="XOR truth table, 4 points, train = test")


def _bishop(function: str) -> Callable[..., Dataset]:
    def loader(seed: Seed, n: int) -> Dataset:
        X, t = toy.bishop(function, n)
        X_test, t_test = toy.bishop(function, 200)
        return Dataset(f"bishop-{function}", X, t, X_test, t_test, "regression", None,
                       description=_REGISTRY[f"bishop-{function}"].description)
    return loader


def _poly(seed: Seed, n: int, noise: float) -> Dataset:
    rng = make_rng(seed)
    X, t = toy.poly(n, noise, rng)
    X_test, t_test = toy.poly(100, noise, rng)
    return Dataset("poly", X, t, X_test, t_test, "regression", None,
                   description=_REGISTRY["poly"].description)


_REGISTRY: dict[str, _Entry] = {
    "mnist-5k": _Entry("5,000 real MNIST digits shipped with ffnn, 4,000 train / 1,000 test",
                       lambda seed: _mnist.load_mnist_5k(), source=_mnist.MNIST_5K_ATTRIBUTION),
    "mnist": _Entry(_mnist.SOURCES["mnist"].description,
                    lambda seed: _mnist.load_idx_set("mnist"), source=_mnist.MNIST_ATTRIBUTION),
    "fashion-mnist": _Entry(_mnist.SOURCES["fashion-mnist"].description,
                            lambda seed: _mnist.load_idx_set("fashion-mnist"),
                            source=_mnist.FASHION_ATTRIBUTION),
    "circle": _Entry("Playground circle: a disc of class 1 inside a ring of class 0 (2-D)",
                     _playground("circle", toy.circle, "classification"), _TOY_OPTIONS, _PLAYGROUND),
    "xor": _Entry("Playground XOR: class 1 in quadrants I and III (2-D)",
                  _playground("xor", toy.xor, "classification"), _TOY_OPTIONS, _PLAYGROUND),
    "gauss": _Entry("Playground two Gaussians around (2, 2) and (-2, -2) (2-D)",
                    _playground("gauss", toy.gauss, "classification"), _TOY_OPTIONS, _PLAYGROUND),
    "spiral": _Entry("Playground two interleaved spirals (2-D)",
                     _playground("spiral", toy.spiral, "classification"), _TOY_OPTIONS, _PLAYGROUND),
    "reg-plane": _Entry("Playground regression: target (x + y) / 10 on [-6, 6]^2",
                        _playground("reg-plane", toy.reg_plane, "regression"), _TOY_OPTIONS, _PLAYGROUND),
    "reg-gauss": _Entry("Playground regression: six signed Gaussian-like bumps on [-6, 6]^2",
                        _playground("reg-gauss", toy.reg_gauss, "regression"), _TOY_OPTIONS, _PLAYGROUND),
    "xor-table": _Entry("XOR truth table: 4 points, train = test", _xor_table, source="generated"),
    **{f"bishop-{f}": _Entry(f"Bishop PRML fig. 5.3: {label} at n points on [-1, 1] "
                             "(test: 200-point grid)", _bishop(f), {"n": 50}, "generated")
       for f, label in (("square", "x^2"), ("sin", "sin(pi x)"), ("abs", "|x|"),
                        ("step", "Heaviside step H(x)"))},
    "poly": _Entry("Bishop PRML ch. 1: sin(2 pi x) + N(0, noise^2) at n points on [0, 1] "
                   "(test: 100)", _poly, {"n": 10, "noise": 0.3}, "generated"),
}


def list_datasets() -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every registered data set, in registry order."""
    return [(name, entry.description) for name, entry in _REGISTRY.items()]


def _entry(name: str) -> _Entry:
    if name not in _REGISTRY:
        raise DataError(f"unknown data set {name!r}; expected one of {', '.join(_REGISTRY)}, "
                        "or the path of a .csv or .npz file")
    return _REGISTRY[name]


def load(name_or_path: str | os.PathLike, *, seed: Seed = 0, **options: Any) -> Dataset:
    """Load a registered data set by name, or the user's ``.csv`` / ``.npz`` file by path.

    Parameters
    ----------
    name_or_path : str or PathLike
        A name from :func:`list_datasets`, or a path ending in ``.csv``, ``.csv.gz`` or
        ``.npz`` (options as in :func:`load_csv` / :func:`load_npz`: ``target``, ``task``,
        ``test_fraction``).
    seed : int, Generator or None
        Seed of generated sets and of train/test splits; fixed sets ignore it.
    **options
        Per-set options, e.g. ``n``, ``noise``, ``test_fraction`` for the playground sets.

    Raises
    ------
    DataError
        Unknown name (the message lists the known names) or a bad file.
    ConfigError
        An option the set does not take, or a bad option value.
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or text.lower().endswith((".csv", ".csv.gz", ".npz")):
        return load_file(text, seed=seed, **options)
    entry = _entry(text)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        allowed = ", ".join(entry.options) or "none"
        raise ConfigError(f"data set {text!r} takes no option {', '.join(unknown)}; options: {allowed}")
    return entry.loader(seed=seed, **{**entry.options, **options})


# This function shadows the submodule ``ffnn.data.download`` as an attribute of the package;
# reach the module with ``importlib.import_module("ffnn.data.download")``.
def download(name: str, *, base_urls: tuple[str, ...] | None = None) -> list[Path]:
    """Fetch the files of ``"mnist"`` or ``"fashion-mnist"`` into the cache; return their paths.

    Files already present and verified (in the cache or, for Fashion-MNIST, in Debian's
    ``/usr/share/datasets/fashion-mnist``) are not downloaded again. ``base_urls`` replaces
    the mirror list (default: ``$FFNN_MNIST_MIRROR`` / ``$FFNN_FASHION_MNIST_MIRROR`` or the
    built-in mirrors).
    """
    _entry(name)
    if name not in _mnist.SOURCES:
        raise DataError(f"data set {name!r} needs no download (it is shipped or generated); "
                        f"downloadable sets: {', '.join(_mnist.SOURCES)}")
    return _mnist.download(name, base_urls=base_urls)


def info(name: str) -> str:
    """A multi-line description: size, task, source and license, and for downloadable sets
    the cache location and the status of each file."""
    entry = _entry(name)
    lines = [f"{name}: {entry.description}"]
    if name in _mnist.SOURCES:
        source = _mnist.SOURCES[name]
        lines += ["  size: 60,000 train / 10,000 test, 784 features (28x28), 10 classes",
                  f"  source: {source.license}",
                  f"  mirrors: {', '.join(_mnist.mirrors(name))}",
                  f"  cache: {cache_dir() / name}"]
        found, notes = _mnist.locate(name)
        for filename, path in zip(_mnist.FILES, found, strict=True):
            lines.append(f"    {filename}: {f'ok ({path})' if path else 'not downloaded'}")
        lines += [f"    rejected {note}" for note in notes]
    else:
        ds = load(name)
        lines += [f"  task: {ds.task}" + (f", {ds.n_classes} classes" if ds.n_classes else ""),
                  f"  size: {len(ds.X_train)} train / {len(ds.X_test)} test, {ds.n_features} features",
                  f"  source: {entry.source}"]
        if entry.options:
            lines.append("  options: " + ", ".join(f"{k}={v!r}" for k, v in entry.options.items()))
    return "\n".join(lines)
