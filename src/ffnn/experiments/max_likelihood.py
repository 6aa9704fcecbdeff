"""Losses from maximum likelihood: Gaussian -> sum-of-squares, categorical -> cross-entropy.

Course claims (Bishop 5.2; Tsinghua "MLP" slides). With ``N`` samples, ``D`` outputs and
``y_n = y(x_n, w)``:

- Gaussian ``p(t | x) = N(t | y(x, w), sigma^2 I)``: the negative log-likelihood is
  ``-ln L = (1/(2 sigma^2)) sum_n ||y_n - t_n||^2 + (N D / 2) ln(2 pi sigma^2)``.
  For any fixed ``sigma`` it is minimised in ``w`` by least squares, so ``w_ML = w*`` does
  not depend on ``sigma``; then ``d/d sigma = 0`` gives
  ``sigma^2_ML = (1 / (N D)) sum_n ||y(x_n, w*) - t_n||^2``.
- Categorical ``p(t = k | x) = softmax(z)_k``: ``-ln L = -sum_n ln y_{n, t_n}`` is the
  cross-entropy (the library's ``SoftmaxCrossEntropy`` times N).

Verified (float64): a linear model (library ``Linear(3, 2)``) on synthetic data with noise
std 0.3 is fitted by *numerically* minimising the Gaussian negative log-likelihood over
``(w, ln sigma)`` jointly (full-batch ``ffnn.optim.Adam`` through the engine ``ffnn.Trainer``
on the loss :class:`GaussianNLL`: ``EuclideanLoss``'s gradient scaled by ``1/sigma^2``, and
the gradient of the learned ``ln sigma``); the result equals numpy's least squares and the
closed-form ``sigma^2_ML`` to 1e-6, and minimising over ``w`` at three fixed sigmas gives the
same ``w``. The categorical log-likelihood computed as a product of probabilities equals
``-N`` times ``SoftmaxCrossEntropy``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import layers, losses, optim
from ..errors import TrainingDivergedError
from ..model import Sequential
from ..parameter import Parameter
from ..schedules import LambdaLR
from ..train import Trainer
from ._figures import pyplot
from ._report import Report


def gaussian_nll(model, log_sigma: float, X, T) -> float:
    R = model.forward(X) - T
    N, D = T.shape
    s2 = np.exp(2 * log_sigma)
    return float(0.5 * np.sum(R ** 2) / s2 + 0.5 * N * D * np.log(2 * np.pi * s2))


class GaussianNLL(losses.Loss):
    """The Gaussian negative log-likelihood per sample, ``-ln L / N``, with ``ln sigma`` learned or fixed.

    With ``E = (1/N) sum_n 1/2 ||y_n - t_n||^2`` (:class:`~ffnn.losses.EuclideanLoss`), ``D``
    outputs and ``s2 = sigma^2 = exp(2 ln sigma)``::

        -ln L / N               = E / s2 + (D/2) ln(2 pi s2)
        d(-ln L / N)/dy_n       = (dE/dy_n) / s2 = (y_n - t_n) / (N s2)
        d(-ln L / N)/d ln sigma = -2 E / s2 + D        (zero at s2 = 2E / D = sigma^2_ML)

    ``backward`` returns the first gradient and, when ``log_sigma`` is a :class:`Parameter`
    (shape (1,)), writes the second to ``log_sigma.grad``: give that parameter to the optimizer
    together with the model's, and each step of the engine updates both. A float ``log_sigma``
    is held fixed.
    """

    def __init__(self, log_sigma: Parameter | float) -> None:
        super().__init__("mean")
        self.log_sigma = log_sigma
        self._squares = losses.EuclideanLoss()      # E = mean_n 1/2 ||y_n - t_n||^2
        self._E, self._s2 = 0.0, 1.0

    def forward(self, output: np.ndarray, target: Any) -> float:
        ls = self.log_sigma.value[0] if isinstance(self.log_sigma, Parameter) else self.log_sigma
        self._s2 = np.exp(2 * ls)
        self._E = self._squares.forward(output, target)
        D = output.shape[1]
        return float(self._E / self._s2 + 0.5 * D * np.log(2 * np.pi * self._s2))

    def backward(self) -> np.ndarray:
        grad = self._squares.backward() / self._s2
        if isinstance(self.log_sigma, Parameter):
            self.log_sigma.grad[0] = -2 * self._E / self._s2 + grad.shape[1]
        return grad


def minimise(model, X, T, log_sigma: Parameter | float, steps: int, lr: float) -> None:
    """Full-batch Adam on the mean Gaussian NLL (per sample) over the model's weights (and ln sigma).

    One engine epoch is one step; the learning rate drops to ``lr / 10`` for the steps after the
    first 70 % (a :class:`~ffnn.schedules.LambdaLR`, stepped once per epoch) for a precise optimum.
    """
    params = model.parameters() + ([log_sigma] if isinstance(log_sigma, Parameter) else [])
    opt = optim.Adam(params, lr=lr)
    anneal = LambdaLR(opt, lambda t: 0.1 if t > steps * 0.7 else 1.0)     # the factor for step t (from 0)
    trainer = Trainer(model, GaussianNLL(log_sigma), opt, schedules=[anneal], batch_size=None, shuffle=False)
    with contextlib.suppress(TrainingDivergedError):     # rolled back to the last finite step: judged as is
        trainer.fit(X, T, epochs=steps)


def run(out_dir: Path | None, *, quick: bool = False, seed: int = 0, print_fn=print,
        name: str = "max-likelihood", title: str = "") -> object:
    rep = Report(name, title, out_dir, print_fn, quick)
    rng = np.random.default_rng(seed)
    N, Din, D, noise = 200, 3, 2, 0.3
    X = rng.normal(size=(N, Din))
    W_true, b_true = rng.normal(size=(D, Din)), rng.normal(size=D)
    T = X @ W_true.T + b_true + noise * rng.normal(size=(N, D))

    Xa = np.column_stack([X, np.ones(N)])
    Wa = np.linalg.lstsq(Xa, T, rcond=None)[0]
    W_ls, b_ls = Wa[:Din].T, Wa[Din]
    R = Xa @ Wa - T
    sigma2_closed = float(np.sum(R ** 2) / (N * D))

    steps = 3000 if quick else 6000
    linear = layers.Linear(Din, D, init="zeros", dtype=np.float64)
    assert linear.bias is not None
    model = Sequential([linear])
    log_sigma = Parameter(np.zeros(1), name="log_sigma", decay=False)
    minimise(model, X, T, log_sigma, steps, lr=0.02)
    W_num, b_num = linear.weight.value, linear.bias.value
    sigma2_num = float(np.exp(2 * log_sigma.value[0]))
    w_err = max(float(np.abs(W_num - W_ls).max()), float(np.abs(b_num - b_ls).max()))
    s_err = abs(sigma2_num - sigma2_closed) / sigma2_closed
    rep.claim("maximising the Gaussian likelihood over (w, sigma) numerically gives least squares and "
              "sigma^2_ML = (1/(N D)) sum_n ||y_n - t_n||^2",
              w_err < 1e-6 and s_err < 1e-6,
              f"max |w_numeric - w_lstsq| = {w_err:.1e}; sigma^2 numeric {sigma2_num:.8f} vs closed form "
              f"{sigma2_closed:.8f} (rel. error {s_err:.1e}); true noise variance {noise ** 2}")

    ws = []
    for fixed in (0.1, 1.0, 5.0):
        lin = layers.Linear(Din, D, init="zeros", dtype=np.float64)
        assert lin.bias is not None
        minimise(Sequential([lin]), X, T, float(np.log(fixed)), steps, lr=0.02)
        ws.append(np.concatenate([lin.weight.value.ravel(), lin.bias.value]))
    spread = max(float(np.abs(w - np.concatenate([W_ls.ravel(), b_ls])).max()) for w in ws)
    rep.claim("the weights w_ML do not depend on sigma (sigma only scales the sum-of-squares)",
              spread < 1e-6,
              f"w minimising the NLL at sigma = 0.1, 1, 5: max distance to least squares {spread:.1e}")

    nll_at = gaussian_nll(model, float(np.log(np.sqrt(sigma2_closed))), X, T)
    formula = 0.5 * N * D * (1 + np.log(2 * np.pi * sigma2_closed))
    rep.claim("at the optimum the Gaussian NLL equals (N D / 2)(1 + ln(2 pi sigma^2_ML))",
              abs(nll_at - formula) < 1e-8 * abs(formula),
              f"NLL {nll_at:.10f} vs formula {formula:.10f}")

    K = 4
    Z = rng.normal(size=(N, K)) * 2
    labels = rng.integers(0, K, N)
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    log_lik = float(np.sum(np.log(P[np.arange(N), labels])))
    ce = losses.SoftmaxCrossEntropy().forward(Z, labels)
    rep.claim("the categorical (softmax) negative log-likelihood is the cross-entropy",
              abs(-log_lik - N * ce) < 1e-9 * abs(log_lik),
              f"-sum_n ln p(t_n | x_n) = {-log_lik:.10f}; N x SoftmaxCrossEntropy = {N * ce:.10f}")

    plt = pyplot(out_dir, print_fn)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        sig = np.linspace(0.15, 0.8, 200)
        prof = [gaussian_nll(model, float(np.log(s)), X, T) for s in sig]
        ax.plot(sig, prof)
        ax.axvline(np.sqrt(sigma2_closed), color="r", ls="--", label="closed-form sigma_ML")
        ax.axvline(np.sqrt(sigma2_num), color="k", ls=":", label="numeric optimum")
        ax.set_xlabel("sigma")
        ax.set_ylabel("-ln L at w*")
        ax.legend()
        ax.set_title("Gaussian negative log-likelihood profile", fontsize=9)
        rep.figure(fig, "max_likelihood.png")
    return rep.finish()
