"""The NumPy backend's arrays start on 64-byte boundaries (ffnn.backend.numpy_backend).

OpenBLAS's small GEMMs ran up to 1.2x slower on a weight matrix that started mid cache line,
so a run's speed depended on where malloc put its weights: the weights, gradients, layer
buffers, optimizer state and scratch, and the gathered batches are now aligned, whatever the
allocator does.
"""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn.backend.numpy_backend import ALIGNMENT, aligned, aligned_empty, aligned_zeros


def _aligned(a: np.ndarray) -> bool:
    return a.ctypes.data % ALIGNMENT == 0


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (784, 100), (7, 3, 2)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_aligned_arrays_have_the_shape_dtype_and_start(shape, dtype):
    for a in (aligned_empty(shape, dtype), aligned_zeros(shape, dtype)):
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and a.flags.writeable
        assert _aligned(a) or a.size == 0
    assert not aligned_zeros(shape, dtype).any()


def test_aligned_copies_only_what_is_not_aligned():
    raw = np.zeros(1000, np.float32)
    off = raw[1:401].reshape(20, 20)                  # 4 bytes past an aligned start at most
    if _aligned(off):
        off = raw[2:402].reshape(20, 20)
    off[...] = np.arange(400).reshape(20, 20)
    copy = aligned(off)
    assert copy is not off and _aligned(copy) and np.array_equal(copy, off)
    assert aligned(copy) is copy


def test_a_trained_networks_arrays_are_aligned():
    rng = np.random.default_rng(0)
    X, y = rng.random((300, 784), dtype=np.float32), rng.integers(0, 10, 300)
    for _ in range(5):                                # several allocations: not one lucky draw
        net = ffnn.mlp([784, 100, 10], "relu", seed=0)
        opt = ffnn.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        trainer = ffnn.Trainer(net, ffnn.losses.SoftmaxCrossEntropy(), opt, batch_size=10, seed=0)
        trainer.fit(X, y, epochs=1)
        arrays = [a for p in net.parameters() for a in (p.value, p.grad)] + list(opt.velocity)
        arrays += [b for layer in net.layers for b in layer._buffers.values()]
        arrays += [w for work in opt._work for w in work] + [trainer._data.gather._buffer]
        assert all(_aligned(a) for a in arrays), [a.shape for a in arrays if not _aligned(a)]


def test_moved_and_retyped_networks_are_aligned():
    net = ffnn.mlp([784, 30, 10], "sigmoid", seed=0)
    assert all(_aligned(p.value) and _aligned(p.grad) for p in net.astype(np.float64).parameters())
    pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    back = net.copy().to("torch").to("numpy")
    assert all(_aligned(p.value) and _aligned(p.grad) for p in back.parameters())
