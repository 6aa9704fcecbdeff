"""Peak memory of ffnn's file readers on hostile files (issue #10): each file declares far more
than it holds, or holds far more than it declares, and each reader must refuse it with an
``FfnnError`` without allocating what the file claims.

    python bench/hostile_files.py

For every reader (IDX, IDX gzip, NPZ data, ``ffnn predict`` NPZ inputs, model files,
training checkpoints) it writes the files below into a temporary directory, reads each one
under :mod:`tracemalloc` (which sees NumPy's allocations) and prints the error and the peak
traced memory. Nothing here is timed.

- *lying shape*: an array header that declares 10^10 bytes (80 GB of float64, or a
  10^5 x 10^5 float32 weight), followed by 1 kB of data;
- *zip bomb*: a deflated member of about 1 MB that inflates to 1 GiB, while its ``.npy``
  header declares an array of 8 kB.
"""

from __future__ import annotations

import gzip
import struct
import sys
import tempfile
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import ffnn  # noqa: E402
from ffnn.checkpoint import read_checkpoint  # noqa: E402
from ffnn.data.idx import read_idx  # noqa: E402
from ffnn.data.tabular import input_rows, load_npz  # noqa: E402

GIB = 2**30


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """An ``.npy`` version 1.0 header for ``shape`` (no data)."""
    text = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (-(len(text) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def write_zip(path: Path, members: dict[str, tuple[bytes, int]], deflated: frozenset[str] = frozenset()) -> None:
    """Members ``name -> (head, zeros)``: ``head`` then ``zeros`` zero bytes, streamed in 1 MiB chunks."""
    with zipfile.ZipFile(path, "w") as z:
        for name, (head, zeros) in members.items():
            method = zipfile.ZIP_DEFLATED if name in deflated else zipfile.ZIP_STORED
            info = zipfile.ZipInfo(name)
            info.compress_type = method
            with z.open(info, "w", force_zip64=True) as f:
                f.write(head)
                chunk = bytes(2**20)
                left = zeros
                while left > 0:
                    f.write(chunk[:min(left, len(chunk))])
                    left -= len(chunk)


def replace_member(src: Path, dst: Path, name: str, head: bytes, zeros: int, deflate: bool = False) -> None:
    """A copy of the archive ``src`` whose member ``name`` is replaced (the others kept as they are)."""
    with zipfile.ZipFile(src) as z:
        members = {n: (z.read(n), 0) for n in z.namelist()}
    members[name] = (head, zeros)
    write_zip(dst, members, frozenset({name}) if deflate else frozenset())


def peak(read: Callable[[], object]) -> tuple[str, int]:
    tracemalloc.start()
    try:
        read()
        outcome = "READ (not refused!)"
    except ffnn.FfnnError as exc:
        outcome = f"{type(exc).__name__}: {str(exc)[:110]}"
    finally:
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, top


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        idx_head = struct.pack(">BBBB", 0, 0, 0x0E, 2) + struct.pack(">II", 100_000, 12_500)   # 10^10 bytes of f8
        (d / "lie.idx").write_bytes(idx_head + bytes(1024))
        (d / "lie.idx.gz").write_bytes(gzip.compress(idx_head + bytes(1024)))

        write_zip(d / "lie.npz", {"X.npy": (npy_header((125_000, 10_000)), 1024),
                                  "y.npy": (npy_header((125_000,), "<i8"), 1024)})
        write_zip(d / "bomb.npz", {"X.npy": (npy_header((1000, 1)), GIB), "y.npy": (npy_header((1000,), "<i8"), 8000)},
                  frozenset({"X.npy"}))

        net = ffnn.mlp([784, 100, 10])
        X = np.random.default_rng(0).random((64, 784), dtype=np.float32)
        y = np.arange(64) % 10
        ffnn.save(net, d / "model.ffnn")
        replace_member(d / "model.ffnn", d / "lie.ffnn", "0.weight.npy", npy_header((100_000, 100_000), "<f4"), 1024)
        replace_member(d / "model.ffnn", d / "bomb.ffnn", "0.weight.npy", npy_header((100, 784), "<f4"), GIB,
                       deflate=True)
        trainer = ffnn.Trainer(net, ffnn.losses.SoftmaxCrossEntropy(), ffnn.optim.SGD(net.parameters(), lr=0.1))
        trainer.fit(X, y, epochs=1, checkpoint=d / "state.ckpt")
        replace_member(d / "state.ckpt", d / "lie.ckpt", "0.weight.npy", npy_header((100_000, 100_000), "<f4"), 1024)

        cases: list[tuple[str, str, Callable[[], object]]] = [
            ("IDX", "lie.idx", lambda: read_idx(d / "lie.idx")),
            ("IDX (gzip)", "lie.idx.gz", lambda: read_idx(d / "lie.idx.gz")),
            ("NPZ data", "lie.npz", lambda: load_npz(d / "lie.npz")),
            ("NPZ data", "bomb.npz", lambda: load_npz(d / "bomb.npz")),
            ("predict input (NPZ)", "lie.npz", lambda: input_rows(d / "lie.npz", 10_000)),
            ("model file", "lie.ffnn", lambda: ffnn.load(d / "lie.ffnn")),
            ("model file", "bomb.ffnn", lambda: ffnn.load(d / "bomb.ffnn")),
            ("checkpoint", "lie.ckpt", lambda: read_checkpoint(d / "lie.ckpt")),
        ]
        print(f"{'reader':<20} {'file':<11} {'file size':>10} {'peak':>10}  outcome")
        worst = 0
        for reader, name, read in cases:
            outcome, top = peak(read)
            worst = max(worst, top)
            size = (d / name).stat().st_size
            print(f"{reader:<20} {name:<11} {size / 2**20:8.2f} MiB {top / 2**20:6.2f} MiB  {outcome}")
        print(f"largest peak: {worst / 2**20:.2f} MiB (tracemalloc; numpy {np.__version__}, python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
