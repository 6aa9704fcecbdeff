"""Minibatch indices and the buffer-reusing gatherer."""

import numpy as np
import pytest

from ffnn.data.batches import BatchGatherer, minibatch_indices
from ffnn.errors import ConfigError, ShapeError


@pytest.mark.parametrize("n, batch_size, sizes", [
    (10, 3, [3, 3, 3, 1]), (9, 3, [3, 3, 3]), (5, None, [5]), (2, 8, [2]), (0, 4, []),
])
def test_batch_sizes_keep_the_remainder(n, batch_size, sizes):
    batches = list(minibatch_indices(n, batch_size, shuffle=True, rng=0))
    assert [len(b) for b in batches] == sizes
    if n:
        assert sorted(np.concatenate(batches).tolist()) == list(range(n))


def test_shuffle_uses_the_rng():
    a = np.concatenate(list(minibatch_indices(100, 10, True, np.random.default_rng(1))))
    b = np.concatenate(list(minibatch_indices(100, 10, True, np.random.default_rng(1))))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, np.arange(100))
    rng = np.random.default_rng(1)
    first = np.concatenate(list(minibatch_indices(100, 10, True, rng)))
    second = np.concatenate(list(minibatch_indices(100, 10, True, rng)))
    assert not np.array_equal(first, second)  # a shared Generator gives a new order each epoch
    np.testing.assert_array_equal(np.concatenate(list(minibatch_indices(7, 2, False))), np.arange(7))


def test_bad_arguments():
    with pytest.raises(ConfigError, match="batch_size"):
        list(minibatch_indices(10, 0))
    with pytest.raises(ConfigError, match="n must be"):
        list(minibatch_indices(-1, 2))


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_gatherer_matches_fancy_indexing_and_reuses_buffer(dtype):
    X = np.arange(60).reshape(20, 3).astype(dtype)
    gather = BatchGatherer(X, 8)
    outputs = []
    for idx in minibatch_indices(20, 8, True, 0):
        out = gather(idx)
        np.testing.assert_array_equal(out, X[idx])
        assert out.dtype == dtype
        outputs.append(out)
    assert all(np.shares_memory(outputs[0], o) for o in outputs)


def test_gatherer_1d_targets_and_errors():
    y = np.arange(5)
    gather = BatchGatherer(y, 3)
    np.testing.assert_array_equal(gather(np.array([4, 1])), [4, 1])
    with pytest.raises(ShapeError, match="at most 3 rows"):
        gather(np.arange(4))
    with pytest.raises(ShapeError, match=r"\[0, 5\)"):
        gather(np.array([0, 5]))
    with pytest.raises(ShapeError, match=r"\[0, 5\)"):
        gather(np.array([-1]))
    assert gather(np.array([], dtype=np.intp)).shape == (0,)
