"""Classic linear models of the course, with scikit-learn style ``fit``/``predict``/``score``.

=====================  ==========================================  ==============================
model                  rule / loss                                 fitted by
=====================  ==========================================  ==============================
:class:`Perceptron`    ``y = H(w.x + b)``; ``w += eta (t - y) x``   Rosenblatt's error-correcting rule
:class:`Adaline`       ``E = 1/2 sum_n (t_n - w.x_n - b)^2``        least mean squares (Widrow-Hoff)
:class:`LinearRegression` ``E = 1/(2N) ||X w + b - t||^2``          lstsq / normal equations / GD
:class:`LogisticRegression` mean cross-entropy + ``alpha/2 ||w||^2`` gradient descent
:class:`SoftmaxRegression`  mean cross-entropy + ``alpha/2 ||W||^2`` gradient descent
=====================  ==========================================  ==============================

Plus :class:`PolynomialFeatures` for the polynomial curve fits (degree 1, 2, 9) of Bishop ch. 1.

Every estimator takes its hyper-parameters in the constructor (stored unchanged, as
scikit-learn requires, and validated by ``fit``, raising :class:`ffnn.errors.ConfigError`),
learns in ``fit(X, y) -> self``, and exposes the learned ``coef_`` and ``intercept_``
(scikit-learn's names). ``X`` is a 2-D array ``(n_samples, n_features)``; inputs are
validated by scikit-learn's ``validate_data`` (through :func:`ffnn._estimator.validate_data`,
which falls back to :mod:`ffnn._validation` without scikit-learn). Computation is in
float64. Randomness (the sample order of on-line rules) comes from a
:class:`numpy.random.Generator` built from ``seed``. The binary models
(:class:`Perceptron`, :class:`Adaline`, :class:`LogisticRegression`) tell scikit-learn
they take two classes only (``__sklearn_tags__``); every model works with ``clone``,
pipelines and ``GridSearchCV``, and passes scikit-learn's ``check_estimator``.

Shapes: binary models have ``coef_`` of shape ``(n_features,)`` and a float ``intercept_``
(scikit-learn uses ``(1, n_features)`` for its binary classifiers; compare with
``sk.coef_.ravel()``); :class:`SoftmaxRegression` has ``coef_`` ``(n_classes, n_features)``
and ``intercept_`` ``(n_classes,)``; :class:`LinearRegression` ``(n_features,)`` for a 1-D
target and ``(n_targets, n_features)`` for a 2-D one.

Examples
--------
>>> import numpy as np
>>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [1., 1.]])
>>> Perceptron(eta=0.1).fit(X, [0, 0, 0, 1]).predict(X)       # AND is linearly separable
array([0, 0, 0, 1])
>>> import warnings
>>> with warnings.catch_warnings():
...     warnings.simplefilter("ignore")
...     p = Perceptron(max_iter=50).fit(X, [0, 1, 1, 0])        # XOR is not
>>> p.converged_, p.score(X, [0, 1, 1, 0]) < 1
(False, True)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import combinations_with_replacement
from typing import Any

import numpy as np

from ._estimator import (
    ClassifierMixin,
    Estimator,
    NotFittedError,
    RegressorMixin,
    TransformerMixin,
    check_fitted,
    validate_data,
)
from ._math import sigmoid, softplus
from ._typing import Seed
from ._validation import as_float_array, check_choice, check_int, check_number, make_rng
from .errors import ConfigError, LabelError, ShapeError

__all__ = ["Perceptron", "Adaline", "LinearRegression", "LogisticRegression", "SoftmaxRegression",
           "PolynomialFeatures", "ConvergenceWarning", "NotFittedError"]


class ConvergenceWarning(UserWarning):
    """An iterative fit stopped at ``max_iter`` without meeting its stopping criterion."""


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def _labels(estimator: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Training input of a classifier: ``X`` (float64) and 1-D class labels ``y``."""
    owner = type(estimator).__name__
    if isinstance(y, (str, bytes)):
        raise LabelError(f"{owner} expects y as an array, got the string {y!r}")
    X, y = validate_data(estimator, X, y)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ShapeError(f"{owner} expects y of shape (n_samples,), got shape {y.shape}")
    try:
        from sklearn.utils.multiclass import check_classification_targets
    except ImportError:                 # without scikit-learn: numeric, finite labels
        if y.dtype.kind not in "biuf" or (y.dtype.kind == "f" and not np.isfinite(y).all()):
            raise LabelError(f"{owner} expects finite numeric labels, got dtype {y.dtype}") from None
    else:
        check_classification_targets(y)
    return X, y


def _classes(y: np.ndarray, owner: str, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(classes_, index of each sample's class)``; two classes exactly when ``binary``."""
    classes, idx = np.unique(y, return_inverse=True)
    got = f"got {len(classes)} class{'' if len(classes) == 1 else 'es'} ({classes[:10].tolist()})"
    if binary and len(classes) > 2:
        raise LabelError(f"Only binary classification is supported. The type of the target is multiclass: "
                         f"{owner} needs exactly 2 distinct labels, {got}")
    if binary and len(classes) < 2:
        raise LabelError(f"{owner} is a binary classifier: y must hold exactly 2 distinct labels, {got}")
    if not binary and len(classes) < 2:
        raise LabelError(f"{owner} needs at least 2 classes in y, {got}")
    return classes, idx.reshape(-1)


def _check_bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner} {name} must be True or False, got {value!r}")
    return bool(value)


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _auto_lr(X: np.ndarray, curvature: float, alpha: float, fit_intercept: bool) -> float:
    """``1 / L`` with ``L`` a bound on the Lipschitz constant of the mean-loss gradient.

    ``L = curvature * lambda_max(Xa^T Xa / N) + alpha`` where ``Xa`` is ``X`` with a column
    of ones when the intercept is fitted; ``curvature`` is 1 for squared error and 1/4 for
    the logistic loss (the largest value of ``sigma'``). Gradient descent with step ``1/L``
    decreases a convex ``L``-smooth objective monotonically.
    """
    Xa = np.column_stack([X, np.ones(len(X))]) if fit_intercept else X
    top = float(np.linalg.eigvalsh(Xa.T @ Xa / len(X))[-1]) if Xa.shape[1] else 0.0
    return 1.0 / max(curvature * top + alpha, 1e-12)


class _Estimator(Estimator):
    """Shared plumbing: the parameters and repr of :class:`ffnn._estimator.Estimator` (every
    constructor argument shown), fitted-state and feature-count checks."""

    _repr_all_params = True
    n_features_in_: int
    coef_: np.ndarray
    intercept_: Any
    classes_: np.ndarray

    def _check_fitted(self, X: Any) -> np.ndarray:
        """Prediction input: the model is fitted and ``X`` has the fitted features."""
        check_fitted(self)
        return validate_data(self, X, reset=False)


class _LinearClassifier(ClassifierMixin, _Estimator):
    """A classifier whose ``score`` is the accuracy, with ``y`` checked like ``fit`` checks it."""

    predict: Callable[[Any], np.ndarray]
    """Class labels (values from ``classes_``), shape (n_samples,); each model defines it."""

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy: the (weighted) fraction of samples whose predicted label equals ``y``."""
        X = self._check_fitted(X)
        y = np.asarray(y).reshape(len(X), -1)[:, 0] if np.ndim(y) == 2 else np.asarray(y)
        if len(y) != len(X):
            raise ShapeError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
        return float(np.average(self.predict(X) == y, weights=sample_weight))


class _BinaryLinearClassifier(_LinearClassifier):
    """``decision_function = X w + b - threshold``; ``predict`` picks ``classes_[1]`` when it is >= 0."""

    _threshold = 0.0

    def decision_function(self, X: Any) -> np.ndarray:
        """``z = X w + b - threshold`` (threshold 0 but for :class:`Adaline`), shape (n_samples,):
        positive for ``classes_[1]``, as scikit-learn's binary classifiers."""
        X = self._check_fitted(X)
        return X @ self.coef_ + self.intercept_ - self._threshold

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (values from ``classes_``), shape (n_samples,)."""
        z = self.decision_function(X)
        return self.classes_[(z >= 0).astype(np.intp)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.classifier_tags.multi_class = False     # two classes exactly
        return tags


# ---------------------------------------------------------------------------------------
# Perceptron
# ---------------------------------------------------------------------------------------

class Perceptron(_BinaryLinearClassifier):
    """Rosenblatt's perceptron: ``y = H(w.x + b)`` with ``H(z) = 1 if z >= 0 else 0``.

    Learning rule, one sample at a time, with target ``t`` in {0, 1} (the index of the
    sample's class in ``classes_``):

    .. math::

        y &= H(w \\cdot x + b) \\\\
        w &\\leftarrow w + \\eta (t - y) x, \\qquad b \\leftarrow b + \\eta (t - y)

    ``t - y`` is 0 for a correct prediction, so only misclassified samples move the
    weights. An *epoch* is one pass over the data; training stops after the first epoch
    with no error (the perceptron convergence theorem guarantees one exists, after finitely
    many updates, when the data are linearly separable) or after ``max_iter`` epochs, in
    which case ``converged_`` is False and a :class:`ConvergenceWarning` is issued: that is
    what happens on XOR, which no line separates.

    Parameters
    ----------
    eta : float
        Learning rate > 0. With weights starting at zero it only scales ``w`` and ``b``
        (the decision boundary and the number of updates do not depend on it).
    max_iter : int
        Maximum number of epochs, >= 1.
    shuffle : bool
        Visit the samples in a new random order each epoch (False: in the given order).
    seed : int, Generator or None
        Randomness for ``shuffle``.

    Attributes
    ----------
    coef_ : ndarray (n_features,)
    intercept_ : float
    classes_ : ndarray (2,)
        The two labels, sorted; ``classes_[1]`` is predicted when ``w.x + b >= 0``.
    errors_ : list of int
        Number of misclassified samples (= updates) in each epoch.
    n_iter_ : int
        Epochs run.
    converged_ : bool
        Whether the last epoch had no error.
    """

    def __init__(self, eta: float = 1.0, max_iter: int = 100, shuffle: bool = False,
                 seed: Seed = None) -> None:
        self.eta = eta
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.seed = seed

    def _check_params(self) -> None:
        check_number("Perceptron eta", self.eta, low=0.0, low_inclusive=False)
        check_int("Perceptron max_iter", self.max_iter, low=1)
        _check_bool("Perceptron", "shuffle", self.shuffle)
        make_rng(self.seed)

    def fit(self, X: Any, y: Any) -> Perceptron:
        """Run the perceptron rule until an epoch makes no error or ``max_iter`` epochs pass."""
        self._check_params()
        X, y = _labels(self, X, y)
        self.classes_, t = _classes(y, "Perceptron", binary=True)
        rng = make_rng(self.seed)
        n, d = X.shape
        w, b = np.zeros(d), 0.0
        self.errors_ = []
        self.converged_ = False
        for _ in range(self.max_iter):
            order = rng.permutation(n) if self.shuffle else range(n)
            errors = 0
            for i in order:
                out = 1 if X[i] @ w + b >= 0 else 0
                if out != t[i]:
                    step = self.eta * (t[i] - out)
                    w += step * X[i]
                    b += step
                    errors += 1
            self.errors_.append(errors)
            if errors == 0:
                self.converged_ = True
                break
        self.n_iter_ = len(self.errors_)
        self.coef_, self.intercept_ = w, float(b)
        if not self.converged_:
            warnings.warn(f"Perceptron did not converge in {self.max_iter} epochs "
                          f"({self.errors_[-1]} errors in the last one): the data are probably "
                          "not linearly separable", ConvergenceWarning, stacklevel=2)
        return self


# ---------------------------------------------------------------------------------------
# Adaline
# ---------------------------------------------------------------------------------------

class Adaline(_BinaryLinearClassifier):
    """ADAptive LInear NEuron: least mean squares on the linear output ``z = w.x + b``.

    Loss and gradient (targets ``t`` are the label values themselves, {0, 1} or {-1, 1}):

    .. math::

        E(w, b) = \\frac{1}{2N} \\sum_n (t_n - z_n)^2, \\qquad
        \\frac{\\partial E}{\\partial w} = -\\frac{1}{N} \\sum_n (t_n - z_n) x_n

    ``solver="batch"``: gradient descent ``w += eta/N sum_n (t_n - z_n) x_n``,
    ``b += eta/N sum_n (t_n - z_n)``. ``solver="online"``: the Widrow-Hoff LMS rule, one
    sample at a time, ``w += eta (t_n - z_n) x_n``, ``b += eta (t_n - z_n)``. Unlike the
    perceptron, the update uses the *linear* output, so it also moves on correctly classified
    samples and converges (for small eta) to the least-squares solution even when the
    classes overlap.

    Prediction thresholds ``z`` at the midpoint of the two labels: 0.5 for {0, 1}, 0 for
    {-1, 1}. Labels that are not numbers (strings, say) are regressed as their index in
    ``classes_``, 0 and 1. ``decision_function`` is ``z`` minus that threshold, so its sign
    says the class ``predict`` picks.

    Parameters
    ----------
    eta : float or "auto"
        Learning rate > 0 (for ``"batch"``, ``eta < 2 / lambda_max(Xa^T Xa / N)`` converges);
        ``"auto"`` picks a step that converges on any scale of ``X`` (see :meth:`_eta`).
    max_iter : int
        Epochs, >= 1.
    solver : "batch" or "online"
    tol : float
        Stop when the loss improves by less than ``tol`` between epochs (0: run all epochs).
    shuffle : bool
        ``"online"`` only: a new random sample order each epoch.
    seed : int, Generator or None

    Attributes
    ----------
    coef_, intercept_, classes_, n_iter_
    cost_ : list of float
        ``E`` after each epoch.
    """

    def __init__(self, eta: float | str = 0.01, max_iter: int = 100, solver: str = "batch",
                 tol: float = 0.0, shuffle: bool = True, seed: Seed = None) -> None:
        self.eta = eta
        self.max_iter = max_iter
        self.solver = solver
        self.tol = tol
        self.shuffle = shuffle
        self.seed = seed

    def _check_params(self) -> None:
        if not (isinstance(self.eta, str) and self.eta == "auto"):
            check_number("Adaline eta", self.eta, low=0.0, low_inclusive=False)
        check_int("Adaline max_iter", self.max_iter, low=1)
        check_choice("Adaline solver", self.solver, ("batch", "online"))
        check_number("Adaline tol", self.tol, low=0.0)
        _check_bool("Adaline", "shuffle", self.shuffle)
        make_rng(self.seed)

    def _eta(self, X: np.ndarray) -> float:
        """``eta``, or for ``"auto"`` a step that cannot diverge: ``1 / lambda_max(Xa^T Xa / N)``
        (batch), ``1 / max_n ||x_n||^2 + 1`` (online: LMS is stable below ``2 / ||x_n||^2``)."""
        if not isinstance(self.eta, str):
            return float(self.eta)
        if self.solver == "batch":
            return _auto_lr(X, 1.0, 0.0, True)
        return 1.0 / (float((X ** 2).sum(axis=1).max()) + 1.0)

    def fit(self, X: Any, y: Any) -> Adaline:
        """Minimise the squared error of the linear output by gradient descent or LMS."""
        self._check_params()
        X, y = _labels(self, X, y)
        self.classes_, index = _classes(y, "Adaline", binary=True)
        numeric = y.dtype.kind in "biuf"
        t = y.astype(np.float64) if numeric else index.astype(np.float64)
        self._threshold = float(self.classes_.astype(np.float64).mean()) if numeric else 0.5
        eta = self._eta(X)
        rng = make_rng(self.seed)
        n, d = X.shape
        w, b = np.zeros(d), 0.0
        self.cost_ = []
        for _ in range(self.max_iter):
            if self.solver == "batch":
                err = t - (X @ w + b)
                w += eta * (X.T @ err) / n
                b += eta * err.mean()
            else:
                for i in (rng.permutation(n) if self.shuffle else range(n)):
                    e = t[i] - (X[i] @ w + b)
                    w += eta * e * X[i]
                    b += eta * e
            err = t - (X @ w + b)
            self.cost_.append(float(0.5 * np.mean(err ** 2)))
            if not np.isfinite(self.cost_[-1]):
                raise FloatingPointError(f"Adaline diverged (loss {self.cost_[-1]}); lower eta={eta}")
            if self.tol > 0 and len(self.cost_) > 1 and self.cost_[-2] - self.cost_[-1] < self.tol:
                break
        self.n_iter_ = len(self.cost_)
        self.coef_, self.intercept_ = w, float(b)
        return self


# ---------------------------------------------------------------------------------------
# Linear regression and polynomial features
# ---------------------------------------------------------------------------------------

class PolynomialFeatures(TransformerMixin, _Estimator):
    """Map ``x`` to every monomial of degree 1..``degree`` (and 0 with ``include_bias``).

    For one input feature: ``phi(x) = (x, x^2, ..., x^M)``, the basis of Bishop's
    polynomial curve fitting ``y(x, w) = w_0 + sum_j w_j x^j``. For D features the
    monomials are ordered by degree, then lexicographically (as scikit-learn's).

    Parameters
    ----------
    degree : int >= 1
    include_bias : bool
        Prepend the constant column (leave False when the regression fits an intercept).

    Examples
    --------
    >>> PolynomialFeatures(3).fit_transform(np.array([[2.0]]))
    array([[2., 4., 8.]])
    """

    def __init__(self, degree: int = 2, include_bias: bool = False) -> None:
        self.degree = degree
        self.include_bias = include_bias

    def fit(self, X: Any, y: Any = None) -> PolynomialFeatures:
        check_int("PolynomialFeatures degree", self.degree, low=1)
        _check_bool("PolynomialFeatures", "include_bias", self.include_bias)
        validate_data(self, X)
        start = 0 if self.include_bias else 1
        self.powers_ = [c for deg in range(start, self.degree + 1)
                        for c in combinations_with_replacement(range(self.n_features_in_), deg)]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """The monomials, shape (n_samples, n_output_features)."""
        X = self._check_fitted(X)
        return np.column_stack([np.prod(X[:, list(c)], axis=1) if c else np.ones(len(X))
                                for c in self.powers_])


class LinearRegression(RegressorMixin, _Estimator):
    """Least squares: minimise ``E(w, b) = 1/(2N) sum_n ||w^T x_n + b - t_n||^2``.

    Solvers (they reach the same minimiser; the tests check it):

    - ``"lstsq"`` (default): ``numpy.linalg.lstsq`` on ``[X, 1]`` (SVD; the minimum-norm
      solution when ``X`` is rank deficient; well conditioned for polynomial features).
    - ``"normal"``: the normal equations ``(Xa^T Xa) w_a = Xa^T t`` solved directly
      (``Xa = [X, 1]``); squares the condition number, so prefer ``"lstsq"`` for high
      polynomial degrees.
    - ``"gd"``: full-batch gradient descent ``w_a <- w_a - eta Xa^T (Xa w_a - t) / N`` from
      zero, until the largest gradient component is below ``tol`` (or ``max_iter``).
      ``lr="auto"`` uses ``eta = 1 / lambda_max(Xa^T Xa / N)``.

    Parameters
    ----------
    solver : "lstsq", "normal" or "gd"
    fit_intercept : bool
    lr : float or "auto"
    max_iter : int
    tol : float

    Attributes
    ----------
    coef_ : ndarray (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray (n_targets,)
    n_iter_ : int (gradient steps for ``"gd"``; 1 for the closed forms, one solve)
    loss_ : float
        ``E`` at the solution.
    """

    def __init__(self, solver: str = "lstsq", fit_intercept: bool = True, lr: float | str = "auto",
                 max_iter: int = 100_000, tol: float = 1e-10) -> None:
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol

    def _check_params(self) -> None:
        check_choice("LinearRegression solver", self.solver, ("lstsq", "normal", "gd"))
        _check_bool("LinearRegression", "fit_intercept", self.fit_intercept)
        if not (isinstance(self.lr, str) and self.lr == "auto"):
            check_number("LinearRegression lr", self.lr, low=0.0, low_inclusive=False)
        check_int("LinearRegression max_iter", self.max_iter, low=1)
        check_number("LinearRegression tol", self.tol, low=0.0)

    def fit(self, X: Any, y: Any) -> LinearRegression:
        self._check_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True)
        T = as_float_array(y, "LinearRegression y", dtype=np.float64)
        if T.ndim not in (1, 2):
            raise ShapeError(f"LinearRegression expects y of shape ({len(X)},) or ({len(X)}, n_targets), "
                             f"got shape {T.shape}")
        one_d = T.ndim == 1
        T2 = T[:, None] if one_d else T
        n, d = X.shape
        Xa = np.column_stack([X, np.ones(n)]) if self.fit_intercept else X
        self.n_iter_ = 1
        if self.solver == "lstsq":
            Wa = np.linalg.lstsq(Xa, T2, rcond=None)[0]
        elif self.solver == "normal":
            try:
                Wa = np.linalg.solve(Xa.T @ Xa, Xa.T @ T2)
            except np.linalg.LinAlgError as exc:
                raise ConfigError("LinearRegression solver='normal': X^T X is singular (collinear "
                                  "features); use solver='lstsq'") from exc
        else:
            lr = _auto_lr(X, 1.0, 0.0, self.fit_intercept) if isinstance(self.lr, str) else float(self.lr)
            Wa = np.zeros((Xa.shape[1], T2.shape[1]))
            self.n_iter_ = 0
            while self.n_iter_ < self.max_iter:
                self.n_iter_ += 1
                G = Xa.T @ (Xa @ Wa - T2) / n
                Wa -= lr * G
                if not np.isfinite(Wa).all():
                    raise FloatingPointError(f"LinearRegression gradient descent diverged with lr={lr}")
                if np.abs(G).max() < self.tol:
                    break
            if np.abs(G).max() >= self.tol:
                warnings.warn(f"LinearRegression gradient descent did not reach tol={self.tol} in "
                              f"{self.max_iter} iterations", ConvergenceWarning, stacklevel=2)
        W = Wa[:d].T                       # (n_targets, n_features)
        b = Wa[d] if self.fit_intercept else np.zeros(T2.shape[1])
        self.coef_ = W[0] if one_d else W
        self.intercept_ = float(b[0]) if one_d else b
        R = Xa @ Wa - T2
        self.loss_ = float(0.5 * np.sum(R ** 2) / n)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``X w + b``: shape (n_samples,) or (n_samples, n_targets)."""
        X = self._check_fitted(X)
        return X @ self.coef_.T + self.intercept_

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination ``R^2 = 1 - sum (t - y)^2 / sum (t - mean t)^2`` (unweighted;
        with ``sample_weight``, scikit-learn's weighted ``r2_score``)."""
        pred = self.predict(X)
        t = as_float_array(y, "LinearRegression y", dtype=np.float64).reshape(pred.shape)
        if sample_weight is not None:
            from sklearn.metrics import r2_score
            return float(r2_score(t, pred, sample_weight=sample_weight))
        ss_res = np.sum((t - pred) ** 2)
        ss_tot = np.sum((t - t.mean(axis=0)) ** 2)
        return float(1.0 - ss_res / ss_tot) if ss_tot > 0 else float(ss_res == 0)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.target_tags.multi_output = True         # y may be (n_samples, n_targets)
        return tags


# ---------------------------------------------------------------------------------------
# Logistic and softmax regression
# ---------------------------------------------------------------------------------------

class _GDClassifier(_LinearClassifier):
    """Full-batch gradient descent on a regularised cross-entropy (logistic and softmax regression)."""

    def __init__(self, alpha: float = 0.0, lr: float | str = "auto", max_iter: int = 20_000,
                 tol: float = 1e-8, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.lr = lr
        self.max_iter = max_iter
        self.tol = tol
        self.fit_intercept = fit_intercept

    def _check_params(self) -> None:
        name = type(self).__name__
        check_number(f"{name} alpha", self.alpha, low=0.0)
        if not (isinstance(self.lr, str) and self.lr == "auto"):
            check_number(f"{name} lr", self.lr, low=0.0, low_inclusive=False)
        check_int(f"{name} max_iter", self.max_iter, low=1)
        check_number(f"{name} tol", self.tol, low=0.0)
        _check_bool(name, "fit_intercept", self.fit_intercept)

    def _learning_rate(self, X: np.ndarray, curvature: float) -> float:
        """``lr``, or for ``"auto"`` the step ``1 / L`` of :func:`_auto_lr`."""
        if isinstance(self.lr, str):
            return _auto_lr(X, curvature, self.alpha, self.fit_intercept)
        return float(self.lr)

    def _descend(self, grad_fn: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]],
                 W: np.ndarray, b: np.ndarray, lr: float) -> tuple[np.ndarray, np.ndarray]:
        """Gradient descent ``W -= lr (dE/dW + alpha W)``, ``b -= lr dE/db`` until max |grad| < tol."""
        name = type(self).__name__
        self.loss_curve_: list[float] = []
        converged = False
        n_iter = 0
        while n_iter < self.max_iter:
            n_iter += 1
            loss, gW, gb = grad_fn(W, b)
            gW = gW + self.alpha * W
            if not self.fit_intercept:
                gb = np.zeros_like(gb)
            self.loss_curve_.append(loss + 0.5 * self.alpha * float(np.sum(W ** 2)))
            if max(np.abs(gW).max(), np.abs(gb).max()) < self.tol:
                converged = True
                break
            W -= lr * gW
            b -= lr * gb
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise FloatingPointError(f"{name} gradient descent diverged with lr={lr}")
        self.n_iter_ = n_iter
        self.converged_ = converged
        if not converged:
            warnings.warn(f"{name} did not reach tol={self.tol} in {self.max_iter} iterations "
                          "(with alpha=0 on separable data the weights grow without bound)",
                          ConvergenceWarning, stacklevel=3)
        return W, b


class LogisticRegression(_GDClassifier, _BinaryLinearClassifier):
    """Binary logistic regression by gradient descent on the regularised cross-entropy.

    Model ``p(C_1 | x) = sigma(w.x + b)``; with ``t_n = 1`` for ``classes_[1]``, else 0:

    .. math::

        E(w, b) &= -\\frac{1}{N} \\sum_n [t_n \\ln p_n + (1 - t_n) \\ln (1 - p_n)]
                   + \\frac{\\alpha}{2} \\|w\\|^2 \\\\
        \\nabla_w E &= \\frac{1}{N} \\sum_n (p_n - t_n) x_n + \\alpha w, \\qquad
        \\partial E / \\partial b = \\frac{1}{N} \\sum_n (p_n - t_n)

    The bias is not penalised. Full-batch gradient descent from zero with step ``lr``
    (``"auto"``: ``1 / (lambda_max(Xa^T Xa / N) / 4 + alpha)``, which guarantees descent),
    until the largest gradient component is below ``tol``.

    Relation to scikit-learn: ``sklearn.linear_model.LogisticRegression(C=C)`` minimises
    ``1/2 ||w||^2 + C sum_n CE_n``; dividing by ``C N`` shows it is this objective with
    ``alpha = 1 / (C N)``.

    Parameters
    ----------
    alpha : float
        L2 coefficient >= 0 on the weights (0: none; then separable data do not converge).
    lr : float or "auto"
    max_iter : int
    tol : float
    fit_intercept : bool

    Attributes
    ----------
    coef_ : (n_features,); intercept_ : float; classes_ : (2,); n_iter_ : int;
    converged_ : bool; loss_curve_ : list of float (E per iteration)
    """

    def fit(self, X: Any, y: Any) -> LogisticRegression:
        self._check_params()
        X, y = _labels(self, X, y)
        self.classes_, t = _classes(y, "LogisticRegression", binary=True)
        t = t.astype(np.float64)
        n, d = X.shape

        def grad(w: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            z = X @ w + b[0]
            # -[t ln sigma(z) + (1 - t) ln(1 - sigma(z))] = softplus(z) - t z
            loss = float(np.mean(softplus(z) - t * z))
            r = (sigmoid(z) - t) / n
            return loss, X.T @ r, np.array([r.sum()])

        w, b = self._descend(grad, np.zeros(d), np.zeros(1), self._learning_rate(X, 0.25))
        self.coef_, self.intercept_ = w, float(b[0])
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[1 - p, p]`` with ``p = sigma(w.x + b)``, shape (n_samples, 2)."""
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])


class SoftmaxRegression(_GDClassifier):
    """Multinomial logistic regression: ``p(C_k | x) = softmax(W x + b)_k``.

    With one-hot targets ``T`` (N, K) and probabilities ``P`` (N, K):

    .. math::

        E(W, b) &= -\\frac{1}{N} \\sum_n \\sum_k t_{nk} \\ln p_{nk} + \\frac{\\alpha}{2} \\|W\\|^2 \\\\
        \\nabla_W E &= \\frac{1}{N} (P - T)^T X + \\alpha W, \\qquad
        \\nabla_b E = \\frac{1}{N} \\sum_n (p_n - t_n)

    (the softmax and cross-entropy derivatives combine into ``p - t``). Full-batch gradient
    descent from zero, as :class:`LogisticRegression`.

    **K = 2 reproduces logistic regression.** ``softmax(z)_1 = sigma(z_1 - z_0)``, so the
    classifier is logistic with ``w = w_1 - w_0``, ``b = b_1 - b_0``. From zero the gradients
    of the two rows are opposite, so ``w_0 = -w_1`` throughout and the penalty
    ``alpha/2 (||w_0||^2 + ||w_1||^2) = (alpha/4) ||w||^2``: softmax regression with
    ``alpha`` equals :class:`LogisticRegression` with ``alpha / 2`` (the same when
    ``alpha = 0``). See :meth:`as_binary`.

    Attributes
    ----------
    coef_ : (n_classes, n_features); intercept_ : (n_classes,); classes_ : (n_classes,);
    n_iter_, converged_, loss_curve_
    """

    def fit(self, X: Any, y: Any) -> SoftmaxRegression:
        self._check_params()
        X, y = _labels(self, X, y)
        self.classes_, idx = _classes(y, "SoftmaxRegression", binary=False)
        n, d = X.shape
        k = len(self.classes_)
        T = np.zeros((n, k))
        T[np.arange(n), idx] = 1.0

        def grad(W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            Z = X @ W.T + b
            Zs = Z - Z.max(axis=1, keepdims=True)
            logp = Zs - np.log(np.exp(Zs).sum(axis=1, keepdims=True))
            loss = float(-np.sum(T * logp) / n)
            R = (np.exp(logp) - T) / n
            return loss, R.T @ X, R.sum(axis=0)

        # The softmax Hessian's largest eigenvalue is at most 1/2 (vs 1/4 for the sigmoid).
        W, b = self._descend(grad, np.zeros((k, d)), np.zeros(k), self._learning_rate(X, 0.5))
        self.coef_, self.intercept_ = W, b
        return self

    def _logits(self, X: Any) -> np.ndarray:
        X = self._check_fitted(X)
        return X @ self.coef_.T + self.intercept_

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X W^T + b``, shape (n_samples, n_classes); for two classes the logit of
        ``classes_[1]`` against ``classes_[0]``, ``z_1 - z_0``, shape (n_samples,) (scikit-learn's
        convention for binary classifiers)."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X: Any) -> np.ndarray:
        """``softmax(X W^T + b)``, shape (n_samples, n_classes)."""
        return _softmax(self._logits(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label for each sample."""
        z = self._logits(X)
        return self.classes_[np.argmax(z, axis=1)]

    def as_binary(self) -> tuple[np.ndarray, float]:
        """For K = 2: the equivalent logistic ``(w, b) = (w_1 - w_0, b_1 - b_0)``."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("SoftmaxRegression is not fitted yet: call fit(X, y) first")
        if len(self.classes_) != 2:
            raise ConfigError(f"as_binary needs 2 classes, the model has {len(self.classes_)}")
        return self.coef_[1] - self.coef_[0], float(self.intercept_[1] - self.intercept_[0])
