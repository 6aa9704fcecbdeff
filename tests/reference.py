"""The one helper that compares ffnn with PyTorch autograd (STYLE rule 11).

``compare_with_torch`` runs the same computation in ffnn and in PyTorch (float64), compares
the forward values, then back-propagates a random projection ``sum(out * R)`` through both
and compares the gradients with respect to the inputs and to every parameter. A failure names
the tensor and shows ffnn's and PyTorch's values side by side (the numpy-ml ``err_fmt`` idea).

PyTorch is imported lazily, so this module imports where PyTorch is absent; the tests that call
``compare_with_torch`` carry the ``requires_torch`` marker.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ffnn import Parameter

__all__ = ["compare_with_torch", "err_msg", "to_torch"]


def to_torch(a: np.ndarray, requires_grad: bool = False) -> Any:
    """A float64 (or integer) torch tensor holding a copy of ``a``."""
    import torch

    a = np.asarray(a)
    t = torch.from_numpy(np.array(a, dtype=np.float64 if a.dtype.kind == "f" else np.int64))
    return t.requires_grad_(requires_grad) if a.dtype.kind == "f" else t


def err_msg(name: str, mine: Any, theirs: Any, *, n_show: int = 6) -> str:
    """Side-by-side failure message: shapes, worst element, first values of ffnn vs PyTorch."""
    mine, theirs = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    lines = [f"\n{name}: ffnn vs PyTorch", f"  shape  ffnn {mine.shape}   torch {theirs.shape}"]
    if mine.shape == theirs.shape and mine.size:
        diff = np.abs(mine - theirs)
        worst = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))), diff.shape)
        lines.append(f"  max |diff| {diff[worst]:.3e} at index {tuple(int(i) for i in worst)}: "
                     f"ffnn {mine[worst]!r}  torch {theirs[worst]!r}")
    m, t = mine.reshape(-1)[:n_show], theirs.reshape(-1)[:n_show]
    lines.append(f"  {'ffnn':>24}  {'torch':>24}")
    lines.extend(f"  {a:>24.17g}  {b:>24.17g}" for a, b in zip(m, t))
    return "\n".join(lines)


def _assert_close(name: str, mine: Any, theirs: Any, rtol: float, atol: float) -> None:
    mine, theirs = np.asarray(mine), np.asarray(theirs)
    assert mine.shape == theirs.shape, err_msg(name, mine, theirs)
    np.testing.assert_allclose(mine, theirs, rtol=rtol, atol=atol, err_msg=err_msg(name, mine, theirs))


def compare_with_torch(
    ffnn_forward: Callable[..., Any],
    ffnn_backward: Callable[[np.ndarray], Any],
    torch_forward: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    params: Mapping[str, tuple[Parameter, Any]] | None = None,
    *,
    differentiable: Sequence[bool] | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Compare an ffnn computation with its PyTorch twin: forward values and all gradients.

    Parameters
    ----------
    ffnn_forward : ``f(*inputs) -> ndarray or float``
        The ffnn computation on NumPy arrays (e.g. ``layer.forward``, ``model.forward``,
        ``lambda y, t: loss.forward(y, t)``). Its result is copied at once, since a layer's
        forward may return a buffer it reuses.
    ffnn_backward : ``g(R) -> dE/d(inputs)``
        Given the upstream gradient ``R = dE/d(out)`` (an array of the output's shape and
        dtype; a Python float for a scalar output) return the gradient with respect to the
        differentiable inputs: one array, a sequence in input order, or None when none is
        wanted. It must also set each ffnn parameter's ``.grad`` (e.g. ``layer.backward``,
        ``lambda R: R * loss.backward()``).
    torch_forward : ``h(*tensors) -> Tensor``
        The PyTorch computation on float64 tensors built from ``inputs`` (integer inputs such as
        class labels become int64 tensors without gradient).
    inputs : sequence of ndarray
        Inputs to both sides, passed to ffnn as given (copies).
    params : ``{name: (ffnn Parameter, torch tensor with requires_grad)}``
        The parameters to compare; their values must already agree (checked here: a copying
        mistake is reported as such, not as a gradient error).
    differentiable : sequence of bool
        Which inputs have a gradient to compare (default: the floating-point ones).
    rtol, atol : tolerances of the forward comparison; ``grad_rtol``/``grad_atol`` (default:
        the same) for the gradients.
    seed : seed of the random projection ``R``.

    Returns
    -------
    dict
        ``{"output": ..., "input0": ..., "<param name>": ...}``: ffnn's values, for extra checks.
    """
    import torch

    params = dict(params or {})
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    grad_atol = atol if grad_atol is None else grad_atol
    inputs = [np.asarray(x) for x in inputs]
    if differentiable is None:
        differentiable = [x.dtype.kind == "f" for x in inputs]
    differentiable = list(differentiable)
    if len(differentiable) != len(inputs):
        raise ValueError("differentiable must have one flag per input")

    for name, (p, t) in params.items():
        _assert_close(f"parameter {name} (value before the test: copy mismatch)",
                      p.value, t.detach().numpy(), 0.0, 0.0)

    # forward
    mine = ffnn_forward(*[x.copy() for x in inputs])
    scalar_output = np.ndim(mine) == 0
    mine = np.array(mine, dtype=np.float64 if scalar_output else np.asarray(mine).dtype)
    t_inputs = [to_torch(x, requires_grad=d) for x, d in zip(inputs, differentiable)]
    t_out = torch_forward(*t_inputs)
    _assert_close("forward output", mine, t_out.detach().numpy(), rtol, atol)

    # backward of the random projection sum(out * R)
    # A seed sequence of its own: R must not equal a test input drawn with default_rng(seed)
    # (R == x makes dE/dW = x^T x symmetric, and a transposed gradient would go unnoticed).
    gen = np.random.default_rng([seed, 0x5EED])
    R = gen.standard_normal(mine.shape)
    upstream = float(R) if scalar_output else R.astype(mine.dtype)
    my_grads = ffnn_backward(upstream)
    if my_grads is None:
        my_grads = []
    elif isinstance(my_grads, np.ndarray):
        my_grads = [my_grads]
    my_grads = [np.array(g) for g in my_grads]  # copy: may be a layer's buffer
    wanted = [t for t, d in zip(t_inputs, differentiable) if d]
    if my_grads:
        assert len(my_grads) == len(wanted), (
            f"ffnn_backward returned {len(my_grads)} gradients for {len(wanted)} differentiable inputs")
    sources = (wanted if my_grads else []) + [t for _, t in params.values()]
    result: dict[str, np.ndarray] = {"output": mine}
    if not sources:
        return result
    projection = (t_out * torch.from_numpy(np.asarray(R, dtype=np.float64))).sum()
    t_grads = torch.autograd.grad(projection, sources, allow_unused=True)

    names = []
    if my_grads:
        names = [f"input{i}" for i, d in enumerate(differentiable) if d]
    names += list(params)
    mine_all = my_grads + [np.array(p.grad) for p, _ in params.values()]
    for name, m, t, src in zip(names, mine_all, t_grads, sources):
        theirs = np.zeros(tuple(src.shape)) if t is None else t.numpy()
        if name in params:
            p = params[name][0]
            assert p.grad.shape == p.value.shape, f"{name}.grad has shape {p.grad.shape}, value {p.value.shape}"
        _assert_close(f"gradient d(sum(out*R))/d({name})", m, theirs, grad_rtol, grad_atol)
        result[name] = m
    return result


def torch_lrs(opt: Any, scheduler: Any, epochs: int, metrics: Sequence[float] | None = None) -> list[float]:
    """A torch scheduler's learning rates: the first, then one after each of ``epochs`` steps
    (``scheduler.step(metrics[t])`` when ``metrics`` are given), as ffnn's schedules are compared."""
    lrs = [opt.param_groups[0]["lr"]]
    for t in range(epochs):
        opt.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[t])
        lrs.append(opt.param_groups[0]["lr"])
    return lrs
