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
``(w, ln sigma)`` jointly (``ffnn.optim.Adam`` with the gradient from ``EuclideanLoss``'s
backward scaled by ``1/sigma^2``); the result equals numpy's least squares and the closed-form
``sigma^2_ML`` to 1e-6, and minimising over ``w`` at three fixed sigmas gives the same ``w``.
The categorical log-likelihood computed as a product of probabilities equals ``-N`` times
``SoftmaxCrossEntropy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import layers, losses, optim
from ..model import Sequential
from ..parameter import Parameter
from ._figures import pyplot
from ._report import Report


def gaussian_nll(model, log_sigma: float, X, T) -> float:
    R = model.forward(X) - T
    N, D = T.shape
    s2 = np.exp(2 * log_sigma)
    return float(0.5 * np.sum(R ** 2) / s2 + 0.5 * N * D * np.log(2 * np.pi * s2))


def minimise(model, X, T, log_sigma: Parameter | None, fixed_log_sigma: float, steps: int, lr: float):
    """Adam on the mean Gaussian NLL (per sample) over the model's weights (and ln sigma)."""
    N, D = T.shape
    mse = losses.EuclideanLoss()                     # mean_n 1/2 ||y_n - t_n||^2
    params = model.parameters() + ([log_sigma] if log_sigma is not None else [])
    opt = optim.Adam(params, lr=lr)
    for i in range(steps):
        ls = log_sigma.value[0] if log_sigma is not None else fixed_log_sigma
        s2 = np.exp(2 * ls)
        E = mse.forward(model.forward(X), T)
        # NLL/N = E / s2 + (D/2) ln(2 pi s2);  d/dy = dE/dy / s2;  d/d ln s = -2E/s2 + D
        model.backward(mse.backward() / s2, input_grad=False)
        if log_sigma is not None:
            log_sigma.grad[0] = -2 * E / s2 + D
        if i > steps * 0.7:                          # anneal for a precise optimum
            opt.lr = lr * 0.1
        opt.step()


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
    model = Sequential([layers.Linear(Din, D, init="zeros", dtype=np.float64)])
    log_sigma = Parameter(np.zeros(1), name="log_sigma", decay=False)
    minimise(model, X, T, log_sigma, 0.0, steps, lr=0.02)
    W_num, b_num = model[0].weight.value, model[0].bias.value
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
        m = Sequential([layers.Linear(Din, D, init="zeros", dtype=np.float64)])
        minimise(m, X, T, None, float(np.log(fixed)), steps, lr=0.02)
        ws.append(np.concatenate([m[0].weight.value.ravel(), m[0].bias.value]))
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
