"""PyTorch interop (``ffnn.to_torch``, ``ffnn.from_torch``): same weights both ways, bit for bit.

For every layer type in float32 and float64: the torch module has the matching ``torch.nn``
class and the same parameters, and computes the same outputs; reading it back gives bitwise
equal parameters; a ``torch.nn.Sequential`` built in PyTorch reads into ffnn and back
unchanged. Unsupported modules and layers are named in the error.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import ffnn  # noqa: E402
from ffnn import layers  # noqa: E402
from interop_cases import CASES, covered_layer_types, inputs, network  # noqa: E402

nn = torch.nn

TORCH_CLASS = {"Linear": nn.Linear, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "ReLU": nn.ReLU,
               "LeakyReLU": nn.LeakyReLU, "PReLU": nn.PReLU, "RReLU": nn.RReLU, "ELU": nn.ELU,
               "Softplus": nn.Softplus, "Softsign": nn.Softsign, "Identity": nn.Identity, "Softmax": nn.Softmax,
               "Dropout": nn.Dropout, "BatchNorm": nn.BatchNorm1d, "LayerNorm": nn.LayerNorm}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def torch_forward(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def assert_same_parameters(a, b):
    assert len(a.parameters()) == len(b.parameters())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.name == q.name and p.value.dtype == q.value.dtype
        np.testing.assert_array_equal(p.value, q.value)


def test_every_built_in_layer_has_a_torch_class_and_a_case():
    built_in = set(layers.__all__) - {"Layer"}
    assert set(TORCH_CLASS) == built_in
    assert covered_layer_types() == built_in


@pytest.mark.parametrize("case", list(CASES))
def test_to_torch_copies_the_weights_and_computes_the_same(case, dtype):
    net = network(case, dtype).eval()
    module = ffnn.to_torch(net)
    assert [type(m) for m in module] == [TORCH_CLASS[type(layer).__name__] for layer in net]
    assert not module.training
    ffnn_params = [p.value for p in net.parameters()]
    torch_params = [t.detach().numpy() for t in module.parameters()]
    assert len(ffnn_params) == len(torch_params)
    for a, b in zip(ffnn_params, torch_params, strict=True):
        assert b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    for n in (1, 37):
        x = inputs(n, dtype)
        np.testing.assert_allclose(torch_forward(module, x), net.predict(x), rtol=0, atol=TOLERANCE[dtype])


@pytest.mark.parametrize("case", list(CASES))
def test_the_round_trip_through_torch_is_exact(case, dtype):
    net = network(case, dtype).eval()
    back = ffnn.from_torch(ffnn.to_torch(net))
    assert [layer.config() for layer in back] == [layer.config() for layer in net]
    assert_same_parameters(back, net)
    assert not back.training
    x = inputs(37, dtype)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


def test_batch_norm_running_statistics_go_both_ways():
    net = network("BatchNorm", np.float32)
    module = ffnn.to_torch(net)
    np.testing.assert_array_equal(module[1].running_mean.numpy(), net[1].running_mean)
    np.testing.assert_array_equal(module[1].running_var.numpy(), net[1].running_var)
    module.train()
    with torch.no_grad():
        module(torch.from_numpy(inputs(37, np.float32)))        # torch updates its running statistics
    back = ffnn.from_torch(module)
    np.testing.assert_array_equal(back[1].running_mean, module[1].running_mean.numpy())
    np.testing.assert_array_equal(back[1].running_var, module[1].running_var.numpy())
    assert back.training


def torch_model(dtype):
    """A torch network with every supported module, bias=False included."""
    torch.manual_seed(0)
    kw = {"dtype": TORCH_DTYPE[dtype]}
    model = nn.Sequential(
        nn.Linear(5, 8, **kw), nn.BatchNorm1d(8, momentum=0.2, **kw), nn.ReLU(), nn.Linear(8, 8, bias=False, **kw),
        nn.LayerNorm(8, eps=1e-4, **kw), nn.PReLU(8, **kw), nn.Linear(8, 8, **kw), nn.PReLU(**kw),
        nn.Sequential(nn.LeakyReLU(0.3), nn.RReLU(0.05, 0.25)), nn.ELU(0.5), nn.Softplus(), nn.Softsign(),
        nn.Sigmoid(), nn.Tanh(), nn.Identity(), nn.Dropout(0.1), nn.Linear(8, 3, **kw), nn.Softmax(dim=-1))
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-1, 1)
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    return model.eval()


def test_from_torch_reads_every_supported_module_and_back_exactly(dtype):
    module = torch_model(dtype)
    net = ffnn.from_torch(module)
    assert [type(layer).__name__ for layer in net] == [
        "Linear", "BatchNorm", "ReLU", "Linear", "LayerNorm", "PReLU", "Linear", "PReLU", "LeakyReLU", "RReLU",
        "ELU", "Softplus", "Softsign", "Sigmoid", "Tanh", "Identity", "Dropout", "Linear", "Softmax"]
    assert net.dtype == dtype and net[3].bias is None and not net.training
    x = inputs(37, dtype)
    np.testing.assert_allclose(net.predict(x), torch_forward(module, x), rtol=0, atol=TOLERANCE[dtype])
    again = ffnn.to_torch(net)
    expected = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    got = {k: v for k, v in again.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert len(got) == len(expected)
    for a, b in zip(expected.values(), got.values(), strict=True):    # the nesting is flattened: compare in order
        assert a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("module, needle", [
    (nn.Sequential(nn.Linear(4, 4), nn.Conv2d(1, 1, 1)), r"module 1 \(torch\.nn\.modules\.conv\.Conv2d\).*nn\.Linear"),
    (nn.Sequential(nn.Softmax(dim=0)), "dim=0"),
    (nn.Sequential(nn.Softplus(beta=2)), "beta=2"),
    (nn.Sequential(nn.Linear(2, 2, dtype=torch.float16)), "float16"),
    (nn.Sequential(nn.Linear(2, 2, dtype=torch.bfloat16)), "bfloat16"),
    (nn.Sequential(nn.BatchNorm1d(3, track_running_stats=False)), "track_running_stats"),
    (nn.Sequential(nn.LayerNorm(3, bias=False)), "bias"),
    (nn.Linear(2, 2), "torch.nn.Sequential, got Linear"),
], ids=["conv", "softmax-dim", "softplus-beta", "float16", "bfloat16", "batchnorm-no-stats", "layernorm-no-bias",
        "not-sequential"])
def test_from_torch_names_what_it_cannot_read(module, needle):
    with pytest.raises(ffnn.ConfigError, match=needle):
        ffnn.from_torch(module)


def test_a_subclass_of_a_torch_module_is_not_taken_for_it():
    class Doubled(nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(ffnn.ConfigError, match="Doubled"):
        ffnn.from_torch(nn.Sequential(Doubled()))


class Cube(layers.Layer):
    """y = x^3, with its own torch counterpart."""

    def forward(self, x):
        return x ** 3

    def backward(self, grad_out, input_grad=True):
        raise NotImplementedError

    def to_torch(self):
        class TorchCube(nn.Module):
            def forward(self, x):
                return x ** 3
        return TorchCube()


class Square(layers.Layer):
    def forward(self, x):
        return x * x

    def backward(self, grad_out, input_grad=True):
        raise NotImplementedError


def test_a_user_layer_converts_through_its_to_torch_hook():
    net = ffnn.Sequential([layers.Linear(5, 3, rng=0), Cube()]).eval()
    x = inputs(37, np.float32)
    np.testing.assert_allclose(torch_forward(ffnn.to_torch(net), x), net.predict(x), rtol=1e-6, atol=1e-6)


def test_a_layer_without_a_counterpart_is_named_in_the_error():
    with pytest.raises(ffnn.ConfigError, match=r"layer 1 \(Square\).*Linear.*to_torch"):
        ffnn.to_torch(ffnn.Sequential([layers.Linear(5, 3, rng=0), Square()]))
    with pytest.raises(ffnn.ConfigError, match="ffnn.Sequential"):
        ffnn.to_torch(nn.Sequential())


def test_to_torch_leaves_the_global_torch_generator_alone():
    state = torch.get_rng_state()
    ffnn.to_torch(network("PReLU-per-unit", np.float32))
    assert torch.equal(torch.get_rng_state(), state)


def test_the_training_mode_is_carried_both_ways():
    net = network("Dropout", np.float32).train()
    module = ffnn.to_torch(net)
    assert module.training and module[1].training
    assert ffnn.from_torch(module.eval()).training is False


def test_without_torch_the_error_says_what_to_install():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import ffnn\n"
            "try:\n"
            "    ffnn.to_torch(ffnn.mlp([2, 1]))\n"
            "except ffnn.ConfigError as exc:\n"
            "    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'ffnn[torch]'" in out
