"""``solver="lbfgs"`` of the MLP estimators: scikit-learn's objective minimised by SciPy's L-BFGS-B.

L-BFGS is full-batch quasi-Newton optimisation, not minibatch descent: SciPy drives the
iterations (it chooses where to evaluate, runs its line searches and decides when to
stop), so it does not go through :class:`ffnn.Trainer`'s epoch loop. What it needs from
ffnn is one function of the packed parameter vector ``theta`` that returns the objective
and its gradient, and that function uses the network's own forward pass, the estimator's
loss and the network's backward pass (the same delta recursion the engine runs):

    E(theta) = loss(model(X), T) + (alpha / 2 n) sum_l ||W_l||^2
    dE/dtheta = backprop(dloss/doutput) + (alpha / n) W        (weights only, not biases)

with ``n`` the number of samples (the sum of the sample weights when given) and the loss
the weighted mean over the samples. The value is the one whose gradient is returned (for
several regression outputs, the per-sample *sum* of squares, where scikit-learn reports
their mean but differentiates the sum); ``loss_`` is reported on scikit-learn's scale.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    from .estimators import _BaseMLP

__all__ = ["fit_lbfgs"]


def fit_lbfgs(est: _BaseMLP, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None) -> None:
    """Fit ``est.model_`` to ``(X, Y)`` by L-BFGS-B (``maxiter=max_iter``, ``maxfun=max_fun``,
    ``gtol=tol``); set ``n_iter_`` and ``loss_``, and warn (``ConvergenceWarning``) when SciPy
    stops before converging."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]
    from sklearn.exceptions import ConvergenceWarning

    if est.dropout:
        raise ConfigError("solver='lbfgs' needs a deterministic objective; use dropout=0 (got "
                          f"dropout={est.dropout}) or a stochastic solver")
    model, loss, alpha = est.model_, est._loss(), float(est.alpha)
    targets = est._targets(Y)
    params = model.parameters()
    bounds = np.cumsum([0] + [p.value.size for p in params])
    n = float(len(X) if sample_weight is None else sample_weight.sum())
    divisor = est.n_outputs_ if est.out_activation_ == "identity" else 1
    parts = {"data": 0.0, "penalty": 0.0}
    model.train()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        for p, a, b in zip(params, bounds[:-1], bounds[1:], strict=True):
            p.value[...] = theta[a:b].reshape(p.value.shape)
        out = model._forward(X)
        data = (loss.forward(out, targets) if sample_weight is None
                else loss.forward(out, targets, sample_weight=sample_weight))  # type: ignore[call-arg]
        model._backward(loss.backward(), input_grad=False)
        grad = np.empty_like(theta)
        squares = 0.0
        for p, a, b in zip(params, bounds[:-1], bounds[1:], strict=True):
            g = p.grad.astype(np.float64).ravel()
            if p.decay:
                squares += float(np.vdot(p.value, p.value))
                g += (alpha / n) * p.value.ravel()
            grad[a:b] = g
        parts["data"], parts["penalty"] = data, 0.5 * alpha * squares / n
        return data + parts["penalty"], grad

    theta0 = np.concatenate([p.value.astype(np.float64).ravel() for p in params])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = minimize(objective, theta0, method="L-BFGS-B", jac=True,
                          options={"maxfun": int(est.max_fun), "maxiter": int(est.max_iter), "gtol": float(est.tol)})
        objective(result.x)                       # leave the network at the solution
    if result.status != 0:
        warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status={result.status}): "
                      f"{result.message}. Increase the number of iterations (max_iter) or scale the data.",
                      ConvergenceWarning, stacklevel=4)
    est.n_iter_ = min(int(result.nit), int(est.max_iter))
    est.loss_ = parts["data"] / divisor + parts["penalty"]
