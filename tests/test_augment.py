"""Image augmentation: ``RandomShift`` against a direct definition, and the engine applying it
per batch (reproducible from the seed, resumed from checkpoints), the recipe and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import losses, mlp, optim
from ffnn.augment import RandomShift
from ffnn.cli import build_parser
from ffnn.errors import ConfigError, ShapeError
from ffnn.recipe import Recipe


def _shifted(image, dy, dx):
    """``out[i, j] = image[i - dy, j - dx]`` where that exists, else 0: the definition."""
    h, w = image.shape
    out = np.zeros_like(image)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[i, j] = image[i - dy, j - dx]
    return out


@pytest.mark.parametrize("pixels, shape", [(1, (4, 5)), (2, (6, 6)), (3, (7, 4))])
def test_each_image_is_shifted_by_the_drawn_offsets(pixels, shape):
    h, w = shape
    x = np.random.default_rng(0).random((9, h * w)).astype(np.float32)
    before = x.copy()
    out = RandomShift(pixels, shape)(x, np.random.default_rng(1))
    offsets = np.random.default_rng(1).integers(-pixels, pixels + 1, size=(9, 2))
    np.testing.assert_array_equal(x, before)                     # the batch itself is left alone
    assert out.dtype == x.dtype and out.shape == x.shape
    for n, (dy, dx) in enumerate(offsets):
        np.testing.assert_array_equal(out[n].reshape(h, w), _shifted(x[n].reshape(h, w), dy, dx))


def test_every_offset_in_range_is_drawn():
    x = np.zeros((2000, 25), np.float32)
    x[:, 12] = 1.0                                               # one lit pixel in the middle of 5x5
    out = RandomShift(2, (5, 5))(x, np.random.default_rng(0))
    positions = np.unique(out.argmax(axis=1))
    assert len(positions) == 25                                  # (dy, dx) in {-2..2}^2


def test_zero_pixels_is_a_copy():
    x = np.ones((3, 784), np.float32)
    out = RandomShift(0)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x)
    assert out is not x


def test_bad_shapes_are_refused():
    with pytest.raises(ShapeError, match="784 features"):
        RandomShift(1)(np.zeros((2, 100), np.float32), np.random.default_rng(0))
    with pytest.raises(ShapeError, match="fewer than 3 pixels"):
        RandomShift(3, (3, 8))
    with pytest.raises(ConfigError, match="shift pixels"):
        RandomShift(-1)


def _trainer(augment, seed=0):
    net = mlp([16, 8, 3], seed=0)
    return ffnn.Trainer(net, losses.SoftmaxCrossEntropy(), optim.Adam(net.parameters(), lr=0.01),
                        augment=augment, batch_size=8, seed=seed)


def _data():
    gen = np.random.default_rng(0)
    return gen.random((40, 16)).astype(np.float32), gen.integers(0, 3, 40)


def test_the_engine_augments_each_batch_reproducibly_from_the_seed():
    X, y = _data()
    runs = []
    for augment, seed in [(RandomShift(1, (4, 4)), 0), (RandomShift(1, (4, 4)), 0), (None, 0),
                          (RandomShift(1, (4, 4)), 1)]:
        trainer = _trainer(augment, seed)
        trainer.fit(X, y, epochs=2)
        runs.append(trainer.model[0].weight.value.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2]) and not np.array_equal(runs[0], runs[3])


def test_the_last_batch_is_the_augmented_one_and_evaluation_is_not_augmented():
    X, y = _data()
    calls = []

    def flip(batch, rng):
        calls.append(len(batch))
        return batch[:, ::-1].copy()

    trainer = _trainer(flip)
    trainer.fit(X, y, epochs=1, validation=(X, y))
    assert calls == [8] * 5                                      # training batches only
    assert trainer.last_batch is not None and trainer.last_batch.shape == (8, 16)


def test_a_resumed_run_continues_with_the_same_draws(tmp_path):
    X, y = _data()
    full = _trainer(RandomShift(1, (4, 4)))
    full.fit(X, y, epochs=3)
    first = _trainer(RandomShift(1, (4, 4)))
    first.fit(X, y, epochs=1, checkpoint=tmp_path / "run.ckpt", checkpoint_every=2)
    resumed = _trainer(RandomShift(1, (4, 4)))
    resumed.fit(X, y, epochs=3, checkpoint=tmp_path / "run.ckpt")
    np.testing.assert_array_equal(resumed.model[0].weight.value, full.model[0].weight.value)


def test_augment_must_be_callable():
    with pytest.raises(ConfigError, match="augment must be a callable"):
        _trainer("shift")


def test_recipe_shift_needs_images_and_reaches_the_trainer():
    with pytest.raises(ConfigError, match="not an image data set"):
        Recipe(data="xor", shift=1).prepare()
    run = Recipe(data="mnist-5k", hidden="8", epochs=1, shift=2).prepare()
    assert isinstance(run.augment, RandomShift) and run.augment.pixels == 2
    assert run.augment.image_shape == (28, 28)
    assert run.trainer().augment is run.augment
    assert "--shift 2" in run.recipe.to_command()
    assert build_parser().parse_args(["train", "--shift", "2"]).shift == 2
