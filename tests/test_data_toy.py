"""Generated toy sets: shapes, labels, reproducibility and the playground's semantics."""

import numpy as np
import pytest

from ffnn import data
from ffnn.data import toy
from ffnn.errors import ConfigError

CLASSIFIERS = [toy.circle, toy.xor, toy.gauss, toy.spiral]
REGRESSORS = [toy.reg_plane, toy.reg_gauss]


@pytest.mark.parametrize("generator", CLASSIFIERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("n", [1, 7, 500])
def test_classification_shapes_and_labels(generator, n):
    X, y = generator(n, 0.1, 0)
    assert X.shape == (n, 2) and X.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y)) <= {0, 1}


@pytest.mark.parametrize("generator", CLASSIFIERS + REGRESSORS, ids=lambda f: f.__name__)
def test_reproducible_and_noise_matters(generator):
    a, b = generator(200, 0.2, 3), generator(200, 0.2, 3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    other = generator(200, 0.2, 4)
    assert not np.array_equal(a[0], other[0])
    clean = generator(200, 0.0, 3)
    assert not (np.array_equal(clean[0], a[0]) and np.array_equal(clean[1], a[1]))


@pytest.mark.parametrize("generator", REGRESSORS, ids=lambda f: f.__name__)
def test_regression_shapes(generator):
    X, t = generator(50, 0.0, 0)
    assert X.shape == (50, 2) and t.shape == (50, 1) and t.dtype == np.float32
    assert np.abs(X).max() <= 6 and np.abs(t).max() <= 1.2


def test_circle_positives_near_centre():
    X, y = toy.circle(500, 0.0, 0)
    r = np.hypot(X[:, 0], X[:, 1])
    assert np.all(r[y == 1] <= 2.5) and np.all(r[y == 0] >= 3.5 - 1e-6)
    assert y.sum() == 250


def test_circle_noise_flips_labels_not_points():
    X0, y0 = toy.circle(500, 0.0, 1)
    X1, y1 = toy.circle(500, 0.5, 1)
    np.testing.assert_array_equal(X0, X1)  # same draws of radius and angle
    assert (y0 != y1).any()


def test_xor_quadrants_and_padding():
    X, y = toy.xor(500, 0.0, 0)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] >= 0).astype(np.int64))
    assert np.abs(X).min() >= 0.3 - 1e-6


def test_gauss_centres():
    X, y = toy.gauss(2000, 0.0, 0)
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [2, 2], atol=0.1)
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [-2, -2], atol=0.1)
    np.testing.assert_allclose(X[y == 1].var(axis=0), [0.5, 0.5], atol=0.1)


def test_spiral_without_noise_is_deterministic_and_opposite():
    X, y = toy.spiral(100, 0.0, 0)
    np.testing.assert_allclose(X[y == 1], -X[y == 0], atol=1e-5)  # arms rotated by pi


def test_noise_range_checked():
    with pytest.raises(ConfigError, match="noise"):
        toy.circle(10, 0.6, 0)
    with pytest.raises(ConfigError, match="n must be"):
        toy.xor(0, 0.0, 0)


def test_xor_table():
    ds = data.load("xor-table")
    np.testing.assert_array_equal(ds.X_train, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(ds.y_train, [0, 1, 1, 0])
    np.testing.assert_array_equal(ds.X_test, ds.X_train)


@pytest.mark.parametrize("name, f", [("bishop-square", np.square), ("bishop-abs", np.abs),
                                     ("bishop-sin", lambda x: np.sin(np.pi * x)),
                                     ("bishop-step", lambda x: (x > 0).astype(float))])
def test_bishop_sets(name, f):
    ds = data.load(name)
    assert ds.X_train.shape == (50, 1) and ds.y_train.shape == (50, 1)
    assert ds.X_test.shape == (200, 1) and ds.task == "regression" and ds.n_classes is None
    np.testing.assert_allclose(ds.X_train[:, 0], np.linspace(-1, 1, 50), atol=1e-7)
    np.testing.assert_allclose(ds.y_train, f(ds.X_train.astype(np.float64)), atol=1e-6)


def test_poly():
    ds = data.load("poly", seed=1)
    assert ds.X_train.shape == (10, 1) and ds.X_test.shape == (100, 1)
    clean = np.sin(2 * np.pi * ds.X_train[:, 0])
    assert 0 < np.abs(ds.y_train[:, 0] - clean).max() < 1.5
    quiet = data.load("poly", noise=0.0, n=20)
    np.testing.assert_allclose(quiet.y_train[:, 0], np.sin(2 * np.pi * quiet.X_train[:, 0]), atol=1e-6)


@pytest.mark.parametrize("name", ["circle", "xor", "gauss", "spiral", "reg-plane", "reg-gauss"])
def test_registry_playground_sets(name):
    ds = data.load(name, n=300, noise=0.1, test_fraction=0.2, seed=5)
    assert len(ds.X_train) == 240 and len(ds.X_test) == 60 and ds.n_features == 2
    again = data.load(name, n=300, noise=0.1, test_fraction=0.2, seed=5)
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    default = data.load(name)
    assert len(default.X_train) == 250 and len(default.X_test) == 250


def test_unknown_option_and_name():
    with pytest.raises(ConfigError, match="takes no option radius"):
        data.load("circle", radius=3)
    with pytest.raises(ValueError, match="unknown data set 'circles'.*circle"):
        data.load("circles")
