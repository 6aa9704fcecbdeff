"""Sequential: reference vs PyTorch, the sequence protocol, modes, ownership, sizes, copies."""

from __future__ import annotations

import numpy as np
import pytest

import ffnn
from ffnn import layers, losses
from ffnn.errors import ConfigError, ShapeError
from reference import compare_with_torch

try:
    import torch
except ImportError:
    torch = None


def mlp(dtype=np.float64, dropout=False):
    body = [layers.Linear(4, 6, rng=0, dtype=dtype), layers.Tanh()]
    if dropout:
        body.append(layers.Dropout(0.5, rng=0))
    body += [layers.Linear(6, 5, rng=1, dtype=dtype), layers.ReLU(), layers.Linear(5, 3, rng=2, dtype=dtype)]
    return ffnn.Sequential(body)


def torch_twin(model):
    """torch.nn.Sequential with the same weights (copied unchanged: same (out, in) layout)."""
    mods, pairs = [], {}
    for i, layer in enumerate(model):
        if isinstance(layer, layers.Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.weight.value))
                lin.bias.copy_(torch.from_numpy(layer.bias.value))
            pairs[f"{i}.weight"] = (layer.weight, lin.weight)
            pairs[f"{i}.bias"] = (layer.bias, lin.bias)
            mods.append(lin)
        else:
            mods.append({"Tanh": torch.nn.Tanh, "ReLU": torch.nn.ReLU}[type(layer).__name__]())
    return torch.nn.Sequential(*mods), pairs


@pytest.mark.requires_torch
def test_three_layer_mlp_matches_torch_float64():
    model = mlp()
    ref, pairs = torch_twin(model)
    X = np.random.default_rng(0).standard_normal((8, 4))
    compare_with_torch(model.forward, model.backward, ref, [X], pairs)


@pytest.mark.requires_torch
def test_input_grad_false_returns_none_and_sets_param_grads():
    model = mlp()
    ref, pairs = torch_twin(model)
    X = np.random.default_rng(1).standard_normal((8, 4))
    compare_with_torch(model.forward, lambda R: model.backward(R, input_grad=False), ref, [X], pairs,
                       differentiable=[False])
    assert model.backward(np.ones((8, 3)), input_grad=False) is None


def test_input_grad_false_gives_same_param_grads():
    model = mlp()
    X = np.random.default_rng(2).standard_normal((8, 4))
    g = np.random.default_rng(3).standard_normal((8, 3))
    model.forward(X)
    dx = model.backward(g)
    assert dx.shape == X.shape
    full = [p.grad.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad[...] = np.nan
    assert model.backward(g, input_grad=False) is None
    for p, f in zip(model.parameters(), full):
        np.testing.assert_array_equal(p.grad, f, err_msg=p.name)


def test_input_grad_false_with_a_non_linear_first_layer():
    model = ffnn.Sequential([layers.Tanh(), layers.Linear(3, 2, rng=0, dtype=np.float64)])
    model.forward(np.ones((4, 3)))
    assert model.backward(np.ones((4, 2)), input_grad=False) is None
    assert model[1].weight.grad.any()


def test_gradcheck_of_the_mlp():
    model = mlp()
    X = np.random.default_rng(4).standard_normal((5, 4))
    report = ffnn.gradcheck(model, losses.EuclideanLoss(), X, np.random.default_rng(5).standard_normal((5, 3)),
                            check_input=True)
    assert report.ok, str(report)


# ----------------------------------------------------------------------------- sequence protocol
def test_sequence_protocol():
    model = mlp()
    assert len(model) == 5
    assert isinstance(model.layers, list) and len(model.layers) == 5
    assert list(model) == model.layers
    assert model[0] is model.layers[0] and model[-1] is model.layers[4]
    assert isinstance(model[1], layers.Tanh)
    assert [type(layer).__name__ for layer in model] == ["Linear", "Tanh", "Linear", "ReLU", "Linear"]


def test_parameters_and_named_parameters():
    model = mlp()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    assert model.num_parameters() == 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3


def test_train_eval_propagate():
    model = mlp(dropout=True)
    assert model.training and all(layer.training for layer in model)
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in model)
    assert model.train() is model
    assert model.training and all(layer.training for layer in model)
    model.train(False)
    assert not any(layer.training for layer in model)


def test_dropout_active_only_in_training():
    model = mlp(dropout=True)
    X = np.random.default_rng(0).standard_normal((16, 4))
    a, b = model.forward(X), model.forward(X)
    assert not np.array_equal(a, b)
    model.eval()
    np.testing.assert_array_equal(model.forward(X), model.forward(X))


def test_repr_shows_parameter_counts():
    model = ffnn.Sequential([layers.Linear(2, 3, rng=0), layers.Tanh(), layers.Linear(3, 1, rng=1)])
    text = repr(model)
    lines = text.splitlines()
    assert lines[0] == "Sequential("
    assert "Linear(2, 3" in lines[1] and "# 9 parameters" in lines[1]
    assert "Tanh()" in lines[2] and "#" not in lines[2]
    assert "Linear(3, 1" in lines[3] and "# 4 parameters" in lines[3]
    assert "13 parameters in total" in lines[-1]


# ----------------------------------------------------------------------------- ownership
def test_forward_output_is_caller_owned():
    model = mlp()
    gen = np.random.default_rng(0)
    X1, X2 = gen.standard_normal((5, 4)), gen.standard_normal((5, 4))
    out1 = model.forward(X1)
    expected = out1.copy()
    out1[...] = 999.0  # the caller may scribble on it
    out2 = model.forward(X1)
    np.testing.assert_array_equal(out2, expected)
    out3 = model.forward(X2)
    assert not np.shares_memory(out2, out3)
    np.testing.assert_array_equal(out2, expected)  # not overwritten by a later forward
    assert not np.shares_memory(model(X2), out3)


def test_backward_output_is_caller_owned():
    model = mlp()
    gen = np.random.default_rng(1)
    X = gen.standard_normal((5, 4))
    model.forward(X)
    d1 = model.backward(gen.standard_normal((5, 3)))
    kept = d1.copy()
    model.forward(X)
    d2 = model.backward(gen.standard_normal((5, 3)))
    assert not np.shares_memory(d1, d2)
    np.testing.assert_array_equal(d1, kept)


def test_forward_does_not_modify_its_input():
    model = ffnn.Sequential([layers.Identity(), layers.ReLU()])
    X = np.random.default_rng(0).standard_normal((5, 4))
    kept = X.copy()
    out = model.forward(X)
    out[...] = 0
    np.testing.assert_array_equal(X, kept)


# ----------------------------------------------------------------------------- sizes and inputs
def test_size_mismatch_raises_shape_error():
    with pytest.raises(ShapeError) as info:
        ffnn.Sequential([layers.Linear(2, 3), layers.Linear(4, 1)])
    assert isinstance(info.value, ValueError)
    assert "4" in str(info.value) and "3" in str(info.value)


def test_prelu_size_mismatch_raises_shape_error():
    with pytest.raises(ShapeError):
        ffnn.Sequential([layers.Linear(2, 3), layers.PReLU(num_parameters=4)])


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: layers.Linear(2, 3), id="single-layer"),
    pytest.param(lambda: [layers.Linear(2, 3), "relu"], id="not-a-layer"),
])
def test_bad_layer_lists_raise_config_error(bad):
    with pytest.raises(ConfigError):
        ffnn.Sequential(bad())


def test_same_layer_twice_raises_config_error():
    act = layers.Tanh()
    with pytest.raises(ConfigError, match="twice"):
        ffnn.Sequential([layers.Linear(2, 2), act, layers.Linear(2, 2), act])


def test_model_keeps_its_dtype(dtype):
    model = ffnn.Sequential([layers.Linear(4, 3, rng=0, dtype=dtype), layers.Sigmoid()])
    for x_dtype in (np.float32, np.float64, np.int64):
        out = model.forward(np.ones((2, 4), dtype=x_dtype))
        assert out.dtype == dtype
    assert model.dtype == dtype


def test_predict_batches_equal_forward():
    model = mlp(dropout=True)
    X = np.random.default_rng(0).standard_normal((50, 4))
    pred = model.predict(X, batch_size=7)
    assert model.training  # mode restored
    model.eval()
    np.testing.assert_allclose(pred, model.forward(X), rtol=1e-12, atol=1e-15)
    assert model.predict(X, batch_size=100).shape == (50, 3)
    assert not model.training


# ----------------------------------------------------------------------------- copies and state
def test_astype_float64_copy_is_independent():
    model = mlp(dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    before = model.state()
    out32 = model.forward(X)
    copy64 = model.astype(np.float64)
    assert copy64 is not model and copy64.dtype == np.float64 and model.dtype == np.float32
    assert all(p.value.dtype == np.float64 for p in copy64.parameters())
    out64 = copy64.forward(X)
    assert out64.dtype == np.float64
    np.testing.assert_allclose(out64, out32, rtol=1e-5, atol=1e-6)
    for p in copy64.parameters():
        p.value[...] += 1.0
    for name, value in model.state().items():
        np.testing.assert_array_equal(value, before[name])
    for p in model.parameters():
        p.value[...] = 0.0
    assert all(p.value.any() for p in copy64.parameters() if p.name == "weight")


def test_astype_keeps_metadata_and_mode():
    model = mlp()
    model.metadata["classes"] = ["a", "b", "c"]
    model.eval()
    copy = model.astype(np.float32)
    assert copy.metadata == model.metadata and copy.metadata is not model.metadata
    assert not copy.training and not any(layer.training for layer in copy)


def test_state_and_load_state():
    model = mlp()
    state = model.state()
    assert list(state) == [n for n, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        assert not np.shares_memory(state[name], p.value)
    originals = [p.value for p in model.parameters()]
    for p in model.parameters():
        p.value[...] = 7.0
    model.load_state(state)
    for (name, p), orig in zip(model.named_parameters(), originals):
        assert p.value is orig  # in place: optimizers keep their references
        np.testing.assert_array_equal(p.value, state[name])


def test_load_state_rejects_wrong_shapes_and_missing_keys():
    model = mlp()
    state = model.state()
    bad = dict(state, **{"0.weight": np.zeros((3, 3))})
    with pytest.raises(ShapeError, match="0.weight"):
        model.load_state(bad)
    missing = {k: v for k, v in state.items() if k != "2.bias"}
    with pytest.raises(ShapeError, match="2.bias"):
        model.load_state(missing)


# ----------------------------------------------------------------------------- edges the rest leaves open
def test_widths_and_dtype_of_networks_without_a_fixed_width():
    free = ffnn.Sequential([layers.Tanh(), layers.ReLU()])
    assert free.in_features is None and free.out_features is None and free.dtype is None
    assert free._sizes() is None
    late = ffnn.Sequential([layers.Tanh(), layers.Linear(3, 2, rng=0, dtype=np.float64), layers.Softmax()])
    assert late.in_features == 3 and late.out_features == 2 and late._sizes() == [3, 3, 2, 2]
    assert late.dtype == np.float64
    empty = ffnn.Sequential([])
    assert len(empty) == 0 and empty.in_features is None and empty.num_parameters() == 0


def test_forward_refuses_a_batch_that_is_not_2d():
    model = mlp()
    with pytest.raises(ShapeError, match=r"2-D batch \(n_samples, n_features\), got shape \(4,\)"):
        model.forward(np.zeros(4))
    with pytest.raises(ShapeError, match=r"got shape \(1, 2, 4\)"):
        model(np.zeros((1, 2, 4)))


def test_backward_of_an_empty_network_returns_the_gradient():
    grad = np.ones((2, 3))
    out = ffnn.Sequential([]).backward(grad)
    np.testing.assert_array_equal(out, grad)
    assert out is not grad                               # caller-owned, as always
    np.testing.assert_array_equal(ffnn.Sequential([]).backward(grad, input_grad=False), grad)


def test_backward_names_a_layer_that_returns_no_input_gradient():
    class Mute(layers.Identity):
        def backward(self, grad_out, input_grad=True):
            return None

    model = ffnn.Sequential([layers.Linear(3, 3, rng=0, dtype=np.float64), Mute(), layers.Tanh()])
    model.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"layer 1 \(Mute\(\)\) returned no input gradient"):
        model.backward(np.ones((2, 3)))
    # the first layer may return None: nothing below it needs dE/dx
    first = ffnn.Sequential([Mute(), layers.Linear(3, 2, rng=0, dtype=np.float64)])
    first.forward(np.ones((2, 3)))
    assert first.backward(np.ones((2, 2)), input_grad=False) is None
    assert first.backward(np.ones((2, 2))) is None


def test_every_layer_backpropagates_in_reverse_order():
    calls = []

    class Tap(layers.Identity):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def backward(self, grad_out, input_grad=True):
            calls.append((self.tag, input_grad))
            return grad_out * 2.0

    model = ffnn.Sequential([Tap("a"), Tap("b"), Tap("c")])
    model.forward(np.ones((1, 2)))
    np.testing.assert_array_equal(model.backward(np.ones((1, 2))), np.full((1, 2), 8.0))
    assert calls == [("c", True), ("b", True), ("a", True)]
    calls.clear()
    assert model.backward(np.ones((1, 2)), input_grad=False) is None
    assert calls == [("c", True), ("b", True), ("a", False)]


def test_predict_checks_its_batch_size_and_refuses_an_empty_batch():
    model = mlp()
    X = np.random.default_rng(0).standard_normal((5, 4))
    np.testing.assert_allclose(model.predict(X, batch_size=1), model.eval().forward(X), rtol=1e-12)
    with pytest.raises(ConfigError, match="batch_size must be >= 1, got 0"):
        model.predict(X, batch_size=0)
    with pytest.raises(ShapeError, match="empty batch"):
        model.predict(np.zeros((0, 4)))
    assert mlp().predict(X).shape == (5, 3)               # the default chunk covers the batch


def test_train_and_eval_return_the_model_and_set_every_layer():
    model = mlp(dropout=True)
    assert model.eval() is model and not model.training and not any(layer.training for layer in model)
    assert model.train() is model and model.training and all(layer.training for layer in model)
    assert model.train(False) is model and not model.training and not any(layer.training for layer in model)
    assert model.train(1).training is True


def test_num_parameters_and_a_repr_with_thousands():
    model = ffnn.Sequential([layers.Linear(40, 30, rng=0), layers.Tanh()])
    assert model.num_parameters() == 40 * 30 + 30 == sum(p.size for p in model.parameters())
    assert "# 1,230 parameters" in repr(model).splitlines()[1]
    assert repr(model).splitlines()[-1] == ")  # 1,230 parameters in total"


def test_check_state_refuses_non_dicts_non_numbers_and_extra_arrays():
    model = mlp()
    state = model.state()
    with pytest.raises(ShapeError, match="maps parameter names to arrays, got list"):
        model.check_state(list(state.values()))
    with pytest.raises(ShapeError, match=r"no numeric array of shape \(6, 4\) for parameter '0.weight'"):
        model.check_state(dict(state, **{"0.weight": np.full((6, 4), "a")}))
    with pytest.raises(ShapeError, match=r"arrays \['9.weight'\] that match no parameter"):
        model.check_state(dict(state, **{"9.weight": np.zeros(2)}))
    for kind in (np.bool_, np.int8, np.uint8, np.float32):   # every numeric kind is accepted
        model.check_state(dict(state, **{"0.bias": np.ones(6, dtype=kind)}))
    model.check_state(state)


def test_astype_converts_grads_and_a_layers_dtype_and_drops_its_buffers():
    model = ffnn.Sequential([layers.Linear(3, 2, rng=0), layers.Tanh()])
    model.forward(np.ones((4, 3), dtype=np.float32))
    model.backward(np.ones((4, 2), dtype=np.float32))
    model[0]._buffers["scratch"] = np.zeros(3, np.float32)
    copy64 = model.astype("float64")
    assert copy64[0].dtype == np.float64 and model[0].dtype == np.float32
    for p in copy64.parameters():
        assert p.grad.dtype == np.float64 and p.grad.shape == p.value.shape and not p.grad.any()
    assert copy64[0]._buffers == {} and "scratch" in model[0]._buffers
    with pytest.raises(ConfigError):
        model.astype("int32")


def test_first_layer_protocol_is_looked_up_once_per_class():
    from ffnn import model as model_module

    class Plain(layers.Identity):
        def backward(self, grad_out):
            return grad_out

    assert model_module._takes_input_grad(Plain()) is False
    assert model_module._INPUT_GRAD[Plain] is False
    assert model_module._takes_input_grad(layers.Linear(2, 2)) is True
    model_module._INPUT_GRAD[Plain] = True            # the cached answer is the one used
    assert model_module._takes_input_grad(Plain()) is True
    del model_module._INPUT_GRAD[Plain]


class Probe(layers.Identity):
    """Records the dtype and size of each batch it sees, each gradient and the modes it is set to."""

    def __init__(self):
        super().__init__()
        self.inputs, self.grads, self.modes = [], [], []

    def forward(self, x):
        self.inputs.append((x.dtype, len(x)))
        return x

    def backward(self, grad_out, input_grad=True):
        self.grads.append((grad_out.copy(), input_grad))
        return grad_out

    def train(self, mode=True):
        self.modes.append(mode)
        return super().train(mode)


def test_construction_errors_say_what_was_given():
    with pytest.raises(ConfigError) as info:
        ffnn.Sequential(layers.Tanh())
    assert str(info.value) == ("Sequential takes a list of layers, e.g. Sequential([Linear(2, 3), Tanh()]); "
                               "got a single Tanh")
    with pytest.raises(ConfigError, match="^Sequential layer 1 must be an ffnn Layer, got str$"):
        ffnn.Sequential([layers.Tanh(), "relu"])
    act = layers.Tanh()
    with pytest.raises(ConfigError) as info:
        ffnn.Sequential([act, act])
    assert str(info.value) == "the same layer instance appears twice in Sequential; create a new one for each place"


@pytest.mark.parametrize("method", ["forward", "predict"])
def test_the_input_is_converted_to_the_models_dtype_and_named(method):
    probe = Probe()
    model = ffnn.Sequential([probe, layers.Linear(2, 2, rng=0, dtype=np.float32)])
    getattr(model, method)(np.ones((3, 2), dtype=np.float64))
    getattr(model, method)(np.ones((3, 2), dtype=np.int64))
    assert probe.inputs == [(np.float32, 3), (np.float32, 3)]
    with pytest.raises(ShapeError, match="^network input must be a numeric array"):
        getattr(model, method)(np.array([["a", "b"]]))
    if method == "predict":
        with pytest.raises(ShapeError, match=r"^network input must be 2-D, got shape \(2,\)"):
            model.predict(np.ones(2))
        with pytest.raises(ShapeError, match=r"^predict got an empty batch \(0 samples\)$"):
            model.predict(np.zeros((0, 2)))


def test_predict_works_in_chunks_of_4096_rows_by_default():
    probe = Probe()
    model = ffnn.Sequential([probe, layers.Linear(2, 2, rng=0)])
    assert model.predict(np.ones((4097, 2))).shape == (4097, 2)
    assert [n for _, n in probe.inputs] == [4096, 1]


def test_an_old_style_first_layer_gets_the_gradient_of_the_layer_above():
    calls = []

    class OldStyle(layers.Identity):          # backward(grad_out) only: written before input_grad
        def backward(self, grad_out):
            calls.append(grad_out.copy())
            return grad_out

    top = Probe()
    model = ffnn.Sequential([OldStyle(), layers.Linear(2, 3, rng=0, dtype=np.float64), top])
    model.forward(np.ones((4, 2)))
    g = np.arange(12.0).reshape(4, 3)
    assert model.backward(g, input_grad=False) is None
    np.testing.assert_array_equal(calls[0], g @ model[1].weight.value)     # dE/dx of the Linear above
    assert top.grads[0][1] is True


def test_a_first_layer_whose_backward_cannot_be_inspected_is_called_the_old_way():
    class Builtin(layers.Identity):
        backward = abs                      # a builtin: inspect.signature works, and says no input_grad

    class Opaque(layers.Identity):
        backward = max                      # inspect.signature raises ValueError: taken as old-style

    from ffnn import model as model_module
    assert model_module._takes_input_grad(Builtin()) is False
    opaque = ffnn.Sequential([Opaque(), layers.Linear(2, 2, rng=0, dtype=np.float64)])
    assert model_module._takes_input_grad(opaque[0]) is False
    opaque.forward(np.ones((2, 2)))
    # called as max(grad), with the gradient only: max compares the rows of the 2-D array (and
    # max(grad, input_grad=False) would have been a TypeError)
    with pytest.raises(ValueError, match="truth value of an array"):
        opaque.backward(np.ones((2, 2)), input_grad=False)


def test_eval_sets_every_layer_to_false():
    probe = Probe()
    model = ffnn.Sequential([probe])
    model.eval()
    model.train()
    assert probe.modes == [False, True]


def test_astype_float32_of_a_float64_model():
    model = mlp(dtype=np.float64)
    copy32 = model.astype(np.float32)
    assert copy32.dtype == np.float32 and all(p.value.dtype == np.float32 for p in copy32.parameters())
    assert model.dtype == np.float64


def test_a_layer_without_parameters_has_no_count_in_the_repr():
    lines = repr(ffnn.Sequential([layers.Linear(2, 3, rng=0), layers.Tanh()])).splitlines()
    assert lines[2] == "  (1): Tanh()"
