"""The one contract every layer passes (STYLE rule 13, after Keras's ``run_layer_test``).

``check_layer_contract(layer_cls, init_kwargs, ...)`` builds the layer in the requested dtype and
checks, in order:

1. ``repr`` is a non-empty string starting with the class name;
2. ``type(layer)(**layer.config())`` rebuilds an equivalent layer (same config);
3. ``parameters()`` has the expected count, each a :class:`ffnn.Parameter` in the dtype;
4. forward: output shape, output dtype = the requested dtype, finite;
5. backward: dL/dx has x's shape and dtype; each ``param.grad`` has ``value``'s shape and dtype
   and is *replaced*, not accumulated (twice the same call gives the same grads, even after
   the grads were overwritten with junk);
6. train/eval: ``train()``/``eval()`` return the layer and set ``training``; evaluation is
   deterministic; Dropout is the identity in eval, RReLU uses its mean slope in eval, BatchNorm
   its running statistics, every other layer computes the same thing in both modes;
7. save/load of ``Sequential([layer])`` through ``ffnn.save``/``ffnn.load`` gives the same
   layer type, config, parameters and identical eval-mode outputs.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

import ffnn
from ffnn import layers

__all__ = ["check_layer_contract"]


def _accepts_dtype(cls: type) -> bool:
    return "dtype" in inspect.signature(cls.__init__).parameters


def check_layer_contract(layer_cls: type[layers.Layer], init_kwargs: dict[str, Any], *,
                         in_features: int, out_features: int, n_params: int, dtype: Any,
                         tmp_path: Path, n_samples: int = 7, seed: int = 0) -> layers.Layer:
    """Run the layer contract; return the layer built for it (for extra checks)."""
    dtype = np.dtype(dtype)
    kwargs = dict(init_kwargs)
    if _accepts_dtype(layer_cls):
        kwargs["dtype"] = dtype
    layer = layer_cls(**kwargs)
    name = layer_cls.__name__
    gen = np.random.default_rng(seed)
    x = gen.standard_normal((n_samples, in_features)).astype(dtype)

    # 1. repr
    text = repr(layer)
    assert isinstance(text, str) and text.startswith(name), f"repr {text!r} should start with {name!r}"

    # 2. config rebuilds
    config = layer.config()
    rebuilt = type(layer)(**config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.config() == config, f"{name}: rebuilt config {rebuilt.config()} != {config}"

    # 3. parameters
    params = layer.parameters()
    assert len(params) == n_params, f"{name}: {len(params)} parameters, expected {n_params}"
    for p in params:
        assert isinstance(p, ffnn.Parameter)
        assert p.value.dtype == dtype, f"{name}.{p.name} has dtype {p.value.dtype}, expected {dtype}"
        assert p.grad.shape == p.value.shape and p.grad.dtype == dtype

    # 4. forward (training mode, the default)
    assert layer.training is True
    out = np.array(layer.forward(x))
    assert out.shape == (n_samples, out_features), f"{name}: output shape {out.shape}"
    assert out.dtype == dtype, f"{name}: output dtype {out.dtype} for {dtype} input"
    assert np.isfinite(out).all()

    # 5. backward: shapes, dtypes, grads replaced not accumulated
    g = gen.standard_normal(out.shape).astype(dtype)
    dx = np.array(layer.backward(g.copy()))
    assert dx.shape == x.shape, f"{name}: backward returned shape {dx.shape}, input {x.shape}"
    assert dx.dtype == dtype, f"{name}: backward returned dtype {dx.dtype}, expected {dtype}"
    first = [p.grad.copy() for p in params]
    for p, gr in zip(params, first):
        assert gr.shape == p.value.shape, f"{name}.{p.name}.grad shape {gr.shape} != {p.value.shape}"
        assert gr.dtype == dtype, f"{name}.{p.name}.grad dtype {gr.dtype}"
        assert np.any(gr != 0), f"{name}.{p.name}.grad is all zero"
    dx2 = np.array(layer.backward(g.copy()))
    np.testing.assert_array_equal(dx2, dx, err_msg=f"{name}: a second backward changed dL/dx")
    for p, gr in zip(params, first):
        np.testing.assert_array_equal(p.grad, gr, err_msg=f"{name}.{p.name}.grad accumulated")
        p.grad[...] = 1e3  # junk: backward must overwrite, not add
    layer.backward(g.copy())
    for p, gr in zip(params, first):
        np.testing.assert_array_equal(p.grad, gr, err_msg=f"{name}.{p.name}.grad not replaced")

    # 6. train / eval
    assert layer.eval() is layer and layer.training is False
    eval_out = np.array(layer.forward(x))
    np.testing.assert_array_equal(np.array(layer.forward(x)), eval_out,
                                  err_msg=f"{name}: evaluation mode is not deterministic")
    assert eval_out.dtype == dtype
    if isinstance(layer, layers.Dropout):
        np.testing.assert_array_equal(eval_out, x, err_msg="Dropout must be the identity in eval")
    elif isinstance(layer, layers.RReLU):
        mean = dtype.type((layer.lower + layer.upper) / 2)
        np.testing.assert_array_equal(eval_out, np.where(x >= 0, x, x * mean))
    elif isinstance(layer, layers.BatchNorm):     # evaluation normalizes with the running statistics
        xhat = (x - layer.running_mean) / np.sqrt(layer.running_var + dtype.type(layer.eps))
        if layer.affine:
            xhat = xhat * layer.weight.value + layer.bias.value
        np.testing.assert_allclose(eval_out, xhat,
                                   rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)
    else:
        np.testing.assert_array_equal(eval_out, out, err_msg=f"{name}: train and eval outputs differ")
    assert layer.train() is layer and layer.training is True

    # 7. save / load round trip
    model = ffnn.Sequential([layer]).eval()
    expected = model.forward(x)
    path = tmp_path / f"{name}-{dtype.name}.ffnn"
    ffnn.save(model, path)
    loaded = ffnn.load(path)
    assert len(loaded) == 1 and type(loaded[0]) is type(layer)
    assert loaded[0].config() == layer.config()      # BatchNorm's running statistics changed since step 2
    for p, q in zip(layer.parameters(), loaded[0].parameters()):
        assert q.name == p.name and q.value.dtype == p.value.dtype
        np.testing.assert_array_equal(q.value, p.value)
    loaded.eval()
    got = loaded.forward(x)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected, err_msg=f"{name}: output changed by save/load")
    return layer
