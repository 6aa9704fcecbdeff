"""Gradient verification by central finite differences in float64.

Where a layer's derivative jumps (the corner of a ReLU at 0: a layer lists such inputs in its
``kinks`` attribute) a central difference whose step moves an input of that layer across the
corner measures the average of two slopes, not the derivative. Those elements are found
exactly (the side of every corner is compared at ``theta``, ``theta + eps`` and
``theta - eps``), left out of the comparison and counted in the report as skipped at a kink,
instead of being reported as a wrong gradient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._typing import Seed
from ._validation import as_float_array, check_int, check_number, make_rng
from .losses import Loss
from .model import Sequential

__all__ = ["gradcheck", "GradcheckReport", "GradcheckEntry"]

_TINY = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class GradcheckEntry:
    """The comparison for one parameter (or the input).

    Over the checked elements, with ``a`` the backpropagated and ``n`` the numeric derivative:
    ``max_abs_error = max |a - n|``, ``max_rel_error = max |a - n| / max(|a|, |n|, atol)``, and
    ``ok`` when every element has ``|a - n| <= atol + rtol |n|``.
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_error: float
    max_rel_error: float
    ok: bool
    skipped: int = 0
    """Elements not compared: their ``±eps`` step crosses a kink."""


@dataclass(frozen=True)
class GradcheckReport:
    """Result of :func:`gradcheck`: one :class:`GradcheckEntry` per parameter.

    ``str(report)`` is a table; ``report.ok`` is True when every checked element satisfies
    ``|analytic - numeric| <= atol + rtol |numeric|``.
    """

    entries: list[GradcheckEntry] = field(default_factory=list)
    eps: float = 1e-6
    rtol: float = 1e-5
    atol: float = 1e-8
    kink_layers: tuple[str, ...] = ()
    """The layers (``"<index> <class>"``) whose kinks made elements be skipped."""

    @property
    def skipped(self) -> int:
        """Elements left out because their step crosses a kink."""
        return sum(e.skipped for e in self.entries)

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.entries)

    @property
    def max_relative_error(self) -> float:
        return max((e.max_rel_error for e in self.entries), default=0.0)

    @property
    def max_absolute_error(self) -> float:
        return max((e.max_abs_error for e in self.entries), default=0.0)

    def __str__(self) -> str:
        width = max([len("parameter")] + [len(e.name) for e in self.entries])
        head = (f"{'parameter':<{width}}  {'shape':>12}  {'checked':>7}  {'at kink':>7}  {'max abs err':>11}  "
                f"{'max rel err':>11}  ok")
        rows = [head, "-" * len(head)]
        for e in self.entries:
            rows.append(f"{e.name:<{width}}  {str(e.shape):>12}  {e.checked:>7}  {e.skipped:>7}  "
                        f"{e.max_abs_error:11.3e}  {e.max_rel_error:11.3e}  {'yes' if e.ok else 'NO'}")
        if self.skipped:
            rows.append(f"{self.skipped} entries skipped at kinks: their ±eps step crosses the corner of "
                        f"{', '.join(self.kink_layers)} (a central difference there is not the derivative)")
        rows.append(f"central differences, eps={self.eps:g}, float64; pass if |a-n| <= {self.atol:g} + "
                    f"{self.rtol:g}|n|: {'PASS' if self.ok else 'FAIL'}")
        return "\n".join(rows)


def gradcheck(model: Sequential, loss: Loss, X: Any, y: Any, eps: float = 1e-6, *,
              check_input: bool = False, max_elements: int | None = None, rtol: float = 1e-5,
              atol: float = 1e-8, rng: Seed = 0) -> GradcheckReport:
    """Compare backpropagated gradients with central finite differences.

    For each checked element ``theta_i`` of every parameter (and of the input ``X`` with
    ``check_input=True``) the numeric derivative is
    ``(E(theta + eps e_i) - E(theta - eps e_i)) / (2 eps)``, computed on a float64 copy of the
    model (the model itself is not changed) in evaluation mode, so Dropout and RReLU are
    deterministic, on the model's backend (``model.to("torch")``: PyTorch's kernels are
    checked too).

    Parameters
    ----------
    model, loss : the network and the loss to differentiate.
    X, y : a batch and its targets.
    eps : float
        Step of the central difference (1e-6 suits float64).
    check_input : bool
        Also check dE/dX.
    max_elements : int or None
        Check at most this many randomly chosen elements per array (None: all).
    rtol, atol : float
        Tolerances of the pass criterion.
    rng : seed for choosing elements.

    Returns
    -------
    GradcheckReport

    Examples
    --------
    >>> import numpy as np, ffnn
    >>> from ffnn import layers, losses
    >>> net = ffnn.Sequential([layers.Linear(3, 4, rng=0), layers.Tanh(), layers.Linear(4, 2, rng=1)])
    >>> X = np.random.default_rng(0).normal(size=(5, 3))
    >>> report = ffnn.gradcheck(net, losses.SoftmaxCrossEntropy(), X, np.array([0, 1, 1, 0, 1]))
    >>> report.ok, report.max_relative_error < 1e-6
    (True, True)
    """
    eps = check_number("eps", eps, low=0.0, low_inclusive=False)
    if max_elements is not None:
        max_elements = check_int("max_elements", max_elements, low=1)
    generator = make_rng(rng)
    net = model.astype(np.float64).eval()           # on the model's backend: its kernels are checked
    backend = net.backend
    if loss.backend is not backend:                  # a copy: the caller's loss stays where it is
        loss = copy.copy(loss).to(backend)
    X = backend.asarray(np.array(as_float_array(X, "X", dtype=np.float64, ndim=2)))
    if isinstance(y, np.ndarray) and y.dtype.kind == "f":
        y = y.astype(np.float64)

    def host(a: Any) -> np.ndarray:
        return a if isinstance(a, np.ndarray) else backend.to_numpy(a)

    kinked = [(i, layer, tuple(float(k) for k in layer.kinks or ()))      # every Layer has kinks
              for i, layer in enumerate(net.layers)]
    kinked = [entry for entry in kinked if entry[2]]

    def objective() -> tuple[float, list[np.ndarray]]:
        """The loss, and the side (-1, 0, +1) of every kink for every input of a layer with kinks."""
        x, sides = X, []
        for layer in net.layers:
            corners = layer.kinks or ()
            if corners:
                sides.append(np.stack([np.sign(host(x) - float(k)) for k in corners]).astype(np.int8))
            x = layer.forward(x)
        return float(loss.forward(x, y)), sides

    def crossed(base: list[np.ndarray], moved: list[np.ndarray]) -> set[int]:
        return {j for j, (a, b) in enumerate(zip(base, moved, strict=True)) if not np.array_equal(a, b)}

    _, base_sides = objective()
    dX = net._backward(backend.copy(loss.backward()), input_grad=check_input)
    targets = [(name, p.value, host(p.grad).copy()) for name, p in net.named_parameters()]
    if check_input:
        assert dX is not None  # _backward returns dE/dX when input_grad=True
        targets.append(("input", X, host(dX).copy()))

    entries: list[GradcheckEntry] = []
    at_kinks: set[int] = set()
    for name, value, analytic in targets:
        shape = tuple(value.shape)
        flat_analytic = analytic.reshape(-1)
        idx = np.arange(flat_analytic.size)
        if max_elements is not None and flat_analytic.size > max_elements:
            idx = np.sort(generator.choice(flat_analytic.size, max_elements, replace=False))
        numeric = np.empty(len(idx))
        smooth = np.ones(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            at = tuple(int(k) for k in np.unravel_index(i, shape))   # any backend's arrays take it
            saved = float(value[at])
            value[at] = saved + eps
            plus, plus_sides = objective()
            value[at] = saved - eps
            minus, minus_sides = objective()
            value[at] = saved
            numeric[j] = (plus - minus) / (2 * eps)
            corners = crossed(base_sides, plus_sides) | crossed(base_sides, minus_sides)
            if corners:
                smooth[j] = False
                at_kinks |= corners
        a, numeric = flat_analytic[idx][smooth], numeric[smooth]
        abs_err = np.abs(a - numeric)
        # at least the smallest normal float: a zero gradient with atol=0 is a zero relative error, not 0/0
        rel_err = abs_err / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), max(atol, _TINY))
        entries.append(GradcheckEntry(
            name=name, shape=shape, checked=int(smooth.sum()),
            max_abs_error=float(abs_err.max(initial=0.0)), max_rel_error=float(rel_err.max(initial=0.0)),
            ok=bool(np.all(abs_err <= atol + rtol * np.abs(numeric))), skipped=int((~smooth).sum())))
    names = tuple(f"layer {kinked[j][0]} ({type(kinked[j][1]).__name__})" for j in sorted(at_kinks))
    return GradcheckReport(entries=entries, eps=eps, rtol=rtol, atol=atol, kink_layers=names)
