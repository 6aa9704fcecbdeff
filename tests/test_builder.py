"""Tests of ffnn.builder.mlp: structure, activations, dropout, default initialization, errors."""

from __future__ import annotations

import numpy as np
import pytest

from ffnn import layers
from ffnn.builder import default_init, mlp
from ffnn.errors import ConfigError


def kinds(model):
    return [type(layer).__name__ for layer in model]


def test_structure_and_sizes():
    net = mlp([784, 100, 50, 10], "relu", seed=0)
    assert kinds(net) == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    linears = [layer for layer in net if isinstance(layer, layers.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(784, 100), (100, 50), (50, 10)]
    assert [l.weight.value.shape for l in linears] == [(100, 784), (50, 100), (10, 50)]
    assert all(l.bias is not None and np.all(l.bias.value == 0) for l in linears)
    assert net.in_features == 784 and net.out_features == 10
    assert net.num_parameters() == 784 * 100 + 100 + 100 * 50 + 50 + 50 * 10 + 10
    assert net.forward(np.zeros((3, 784), np.float32)).shape == (3, 10)


def test_no_hidden_layer_is_one_linear():
    net = mlp([4, 3], seed=0)
    assert kinds(net) == ["Linear"]


def test_per_layer_activations():
    net = mlp([3, 4, 5, 6, 2], ["tanh", "sigmoid", "leaky_relu"], seed=0)
    assert kinds(net) == ["Linear", "Tanh", "Linear", "Sigmoid", "Linear", "LeakyReLU", "Linear"]


@pytest.mark.parametrize("name", sorted(layers.ACTIVATIONS))
def test_every_activation_name_builds(name):
    net = mlp([3, 4, 2], name, seed=0, dtype=np.float64)
    assert isinstance(net[1], layers.ACTIVATIONS[name])
    out = net.forward(np.ones((2, 3)))
    assert out.shape == (2, 2) and out.dtype == np.float64


def test_prelu_gets_its_own_parameters_in_the_model_dtype():
    net = mlp([3, 4, 4, 2], "prelu", seed=0, dtype=np.float64)
    prelus = [layer for layer in net if isinstance(layer, layers.PReLU)]
    assert len(prelus) == 2 and prelus[0] is not prelus[1]
    assert all(p.value.dtype == np.float64 for layer in prelus for p in layer.parameters())
    assert len(net.parameters()) == 3 * 2 + 2


def test_dropout_after_each_hidden_activation():
    net = mlp([4, 5, 6, 2], "relu", dropout=0.3, seed=0)
    assert kinds(net) == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert all(layer.p == 0.3 for layer in net if isinstance(layer, layers.Dropout))
    assert "Dropout" not in kinds(mlp([4, 5, 2], "relu", dropout=0.0, seed=0))


def test_dropout_is_active_in_training_only():
    net = mlp([20, 200, 2], "identity", dropout=0.5, seed=0, dtype=np.float64)
    x = np.ones((4, 20))
    net.train()
    assert not np.array_equal(net.forward(x), net.forward(x))
    net.eval()
    np.testing.assert_array_equal(net.forward(x), net.forward(x))


def _std(net, i):
    return float(net[i].weight.value.std())


def test_default_init_is_he_for_relu_and_xavier_for_tanh():
    fan_in, fan_out = 400, 300
    he = np.sqrt(2.0 / fan_in)                       # He normal: std sqrt(2 / fan_in)
    xavier = np.sqrt(2.0 / (fan_in + fan_out))       # Xavier (uniform): std sqrt(2 / (fan_in + fan_out))
    relu = mlp([fan_in, fan_out, 10], "relu", seed=0)
    tanh = mlp([fan_in, fan_out, 10], "tanh", seed=0)
    assert _std(relu, 0) == pytest.approx(he, rel=0.02)
    assert _std(tanh, 0) == pytest.approx(xavier, rel=0.02)
    # the two are far enough apart for the test to tell them apart
    assert abs(he - xavier) / xavier > 0.2
    # Xavier uniform lies within +-sqrt(6 / (fan_in + fan_out)); He normal does not
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(tanh[0].weight.value).max() <= bound * (1 + 1e-6)
    # the output layer (no activation of its own) uses Xavier in both
    out_xavier = np.sqrt(2.0 / (fan_out + 10))
    assert _std(relu, 2) == pytest.approx(out_xavier, rel=0.05)
    assert _std(tanh, 2) == pytest.approx(out_xavier, rel=0.05)


@pytest.mark.parametrize("name, expected", [("relu", "he"), ("leaky_relu", "he"), ("elu", "he"),
                                            ("prelu", "he"), ("rrelu", "he"), ("tanh", "xavier"),
                                            ("sigmoid", "xavier"), ("identity", "xavier")])
def test_default_init_names(name, expected):
    assert default_init(name) == expected


def test_per_layer_default_init_follows_each_activation():
    net = mlp([400, 300, 300, 10], ["relu", "tanh"], seed=0)
    assert _std(net, 0) == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert _std(net, 2) == pytest.approx(np.sqrt(2 / 600), rel=0.02)


def test_explicit_init_overrides_the_default():
    net = mlp([400, 300, 10], "relu", init="gaussian", seed=0)
    assert _std(net, 0) == pytest.approx(0.01, rel=0.02)
    assert _std(net, 2) == pytest.approx(0.01, rel=0.1)
    assert np.all(mlp([4, 3, 2], "relu", init="zeros", seed=0)[0].weight.value == 0)


def test_seed_dtype_and_bias():
    a, b, c = (mlp([5, 4, 3], "tanh", seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a[0].weight.value, b[0].weight.value)
    assert not np.array_equal(a[0].weight.value, c[0].weight.value)
    net64 = mlp([5, 4, 3], "tanh", seed=0, dtype=np.float64)
    assert all(p.value.dtype == np.float64 for p in net64.parameters())
    assert all(p.value.dtype == np.float32 for p in a.parameters())
    nobias = mlp([5, 4, 3], "tanh", bias=False, seed=0)
    assert all(layer.bias is None for layer in nobias if isinstance(layer, layers.Linear))
    assert len(nobias.parameters()) == 2


def test_bad_activation_name():
    with pytest.raises(ConfigError, match="'swish'"):
        mlp([3, 4, 2], "swish")
    with pytest.raises(ConfigError, match="'nope'"):
        mlp([3, 4, 4, 2], ["relu", "nope"])


@pytest.mark.parametrize("acts, got", [(["relu"], "1 activations for 2"), (["relu", "tanh", "relu"], "3 activations for 2")])
def test_wrong_number_of_activations(acts, got):
    with pytest.raises(ConfigError, match=got):
        mlp([3, 4, 4, 2], acts)


@pytest.mark.parametrize("sizes, needle", [([3], "[3]"), ([3, 0, 2], "0"), ([3, 2.5], "2.5")])
def test_bad_sizes(sizes, needle):
    with pytest.raises(ConfigError) as info:
        mlp(sizes)
    assert needle in str(info.value)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_bad_dropout(p):
    with pytest.raises(ConfigError, match=str(p)):
        mlp([3, 4, 2], dropout=p)


# ------------------------------------------------------------------------- memory and dtype
def test_a_network_that_cannot_fit_is_refused_with_the_figure_before_allocating():
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"784-10000000-10 \(float32\) needs about 59\.\d GiB"):
            mlp([784, 10_000_000, 10])
        assert tracemalloc.get_traced_memory()[1] < 10 * 2**20       # nothing big was allocated
    finally:
        tracemalloc.stop()


def test_the_memory_check_uses_the_available_memory(monkeypatch):
    from ffnn import builder
    monkeypatch.setattr(builder, "available_memory", lambda: 50_000)
    with pytest.raises(ConfigError, match="GiB is available"):
        mlp([100, 100, 10])
    monkeypatch.setattr(builder, "available_memory", lambda: None)      # unknown: no check
    assert mlp([100, 100, 10]).num_parameters() == 100 * 100 + 100 + 100 * 10 + 10


def test_memory_estimate_counts_parameters_gradients_state_and_activations():
    from ffnn.builder import memory_estimate
    p = (3 + 1) * 5 + (5 + 1) * 2
    assert memory_estimate([3, 5, 2], np.float64) == (2 * p + 3 + 3 * 7) * 8
    assert memory_estimate([3, 5, 2], np.float32, batch_size=10, optimizer_slots=2) == (4 * p + 10 * (3 + 3 * 7)) * 4
    assert memory_estimate([3, 5, 2], np.float32, dropout=True) == (2 * p + 3 + 4 * 7) * 4


def test_available_memory_is_read():
    from ffnn.builder import available_memory
    assert available_memory() is None or available_memory() > 0


def test_the_recipe_refuses_a_huge_network_with_the_batch_size():
    from ffnn.recipe import Recipe
    with pytest.raises(ConfigError, match=r"batch size 64\) needs about [\d.]+ GiB"):
        Recipe(data="xor", hidden="10000000").prepare()


@pytest.mark.parametrize("name", ["xavier", "xavier_normal", "he", "he_uniform", "gaussian:0.3"])
def test_weights_are_drawn_in_the_layers_dtype_with_the_same_values(name, monkeypatch):
    import tracemalloc

    from ffnn import init
    draw = init.get(name)
    shape = (300, 1000)
    wide = draw(shape, np.random.default_rng(5), np.float64)
    tracemalloc.start()
    narrow = draw(shape, np.random.default_rng(5), np.float32)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert narrow.dtype == np.float32
    assert np.array_equal(narrow, wide.astype(np.float32))       # float32 = the float64 draws, rounded
    assert peak < 300 * 1000 * 4 + 2 * init.BLOCK * 8 + 100_000   # no float64 copy of the whole array
    monkeypatch.setattr(init, "BLOCK", 7)                          # values do not depend on the block size
    assert np.array_equal(draw(shape, np.random.default_rng(5), np.float64), wide)


def test_float64_draws_are_those_of_one_call():
    from ffnn import init
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    expected = rng_b.standard_normal((50, 40)) * np.sqrt(2.0 / 40)
    assert np.array_equal(init.he_normal((50, 40), rng_a, np.float64), expected)
    assert rng_a.random() == rng_b.random()                        # the generator advanced the same
