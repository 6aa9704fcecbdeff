"""scikit-learn compatible estimators: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions (constructor arguments stored unchanged,
``get_params``/``set_params``, ``fit``/``predict``/``score``, fitted attributes ending in
``_``) and work with its pipelines, ``cross_val_score`` and ``GridSearchCV``. With
scikit-learn installed they subclass its ``BaseEstimator`` and mixins; without it they still
work on their own. The argument names match ``sklearn.neural_network.MLPClassifier`` where
the meaning is the same (``alpha`` is the L2 penalty: ffnn's ``weight_decay``).

Examples
--------
>>> from ffnn import data
>>> from ffnn.estimators import MLPClassifier
>>> xor = data.load("xor", n=200, noise=0.0, seed=0)
>>> clf = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", solver="adam",
...                     learning_rate_init=0.02, max_iter=200, random_state=0).fit(xor.X_train, xor.y_train)
>>> clf.score(xor.X_test, xor.y_test) > 0.9
True
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ._validation import as_float_array, check_choice, check_int, check_number
from .errors import ConfigError, LabelError

try:  # scikit-learn is optional: subclass its bases when it is there
    from sklearn.base import BaseEstimator as _Base
    from sklearn.base import ClassifierMixin as _ClassifierMixin
    from sklearn.base import RegressorMixin as _RegressorMixin
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    class _Base:
        """get_params/set_params as scikit-learn defines them (constructor arguments)."""

        @classmethod
        def _get_param_names(cls) -> list[str]:
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self")

        def get_params(self, deep: bool = True) -> dict[str, Any]:
            return {name: getattr(self, name) for name in self._get_param_names()}

        def set_params(self, **params: Any) -> "_Base":
            valid = self._get_param_names()
            for key, value in params.items():
                if key not in valid:
                    raise ConfigError(f"invalid parameter {key!r} for {type(self).__name__}; valid: {valid}")
                setattr(self, key, value)
            return self

    class _ClassifierMixin:
        def score(self, X: Any, y: Any) -> float:
            return float(np.mean(self.predict(X) == np.asarray(y)))

    class _RegressorMixin:
        def score(self, X: Any, y: Any) -> float:
            y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            pred = np.asarray(self.predict(X), dtype=np.float64).reshape(len(y), -1)
            ss_res = ((y - pred) ** 2).sum()
            ss_tot = ((y - y.mean(axis=0)) ** 2).sum()
            return float(1 - ss_res / ss_tot) if ss_tot > 0 else 0.0

__all__ = ["MLPClassifier", "MLPRegressor"]


class _BaseMLP(_Base):
    def __init__(self, hidden_layer_sizes: tuple[int, ...] = (100,), activation: str = "relu",
                 solver: str = "adam", alpha: float = 1e-4, batch_size: int | None = 200,
                 learning_rate_init: float = 1e-3, max_iter: int = 200, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, n_iter_no_change: int = 10, tol: float = 1e-4,
                 dropout: float = 0.0, dtype: str = "float32", random_state: int | None = None,
                 verbose: bool = False) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.dropout = dropout
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, (int, np.integer)):
            sizes = (sizes,)
        return [check_int("hidden_layer_sizes entry", int(s) if isinstance(s, np.integer) else s, low=1) for s in sizes]

    def _optimizer(self, params: list) -> Any:
        from . import optim
        solver = check_choice("solver", self.solver, ("sgd", "adam"))
        lr = check_number("learning_rate_init", self.learning_rate_init, low=0.0, low_inclusive=False)
        alpha = check_number("alpha", self.alpha, low=0.0)
        if solver == "adam":
            return optim.Adam(params, lr, weight_decay=alpha)
        return optim.SGD(params, lr, momentum=self.momentum,
                         nesterov=bool(self.nesterovs_momentum) and self.momentum > 0, weight_decay=alpha)

    def _fit(self, X: Any, targets: np.ndarray, n_outputs: int, loss: Any) -> "_BaseMLP":
        from . import fit
        from .builder import mlp
        from .train import EarlyStopping
        dtype = np.dtype(self.dtype)
        X = as_float_array(X, "X", dtype=dtype, ndim=2)
        self.n_features_in_ = X.shape[1]
        self.model_ = mlp([X.shape[1], *self._hidden(), n_outputs], self.activation, dropout=self.dropout,
                          dtype=dtype, seed=self.random_state)
        optimizer = self._optimizer(self.model_.parameters())
        batch = None if self.batch_size is None else min(check_int("batch_size", self.batch_size, low=1), len(X))
        stopper = (EarlyStopping(patience=check_int("n_iter_no_change", self.n_iter_no_change, low=1),
                                 min_delta=check_number("tol", self.tol, low=0.0)) if self.early_stopping else None)
        validation = check_number("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                                  low_inclusive=False, high_inclusive=False) if self.early_stopping else None
        self.history_ = fit(self.model_, loss, optimizer, X, targets,
                            epochs=check_int("max_iter", self.max_iter, low=1), batch_size=batch,
                            validation=validation, early_stopping=stopper, seed=self.random_state,
                            progress=False, verbose=bool(self.verbose))
        self.loss_curve_ = self.history_["loss"]
        self.n_iter_ = self.history_.epochs
        self.loss_ = self.loss_curve_[-1]
        return self

    def _forward(self, X: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise ConfigError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")
        X = as_float_array(X, "X", dtype=self.model_.dtype, ndim=2)
        if X.shape[1] != self.n_features_in_:
            from .errors import ShapeError
            raise ShapeError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with {self.n_features_in_}")
        return self.model_.predict(X)


class MLPClassifier(_ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained with softmax cross-entropy.

    ``hidden_layer_sizes``, ``activation`` (any name of :data:`ffnn.layers.ACTIVATIONS`),
    ``solver`` ("sgd" with ``momentum``/``nesterovs_momentum``, or "adam"), ``alpha`` (L2
    weight decay on weights only), ``batch_size``, ``learning_rate_init``, ``max_iter``
    (epochs), ``early_stopping`` (on a held-out ``validation_fraction``, patience
    ``n_iter_no_change``, improvement ``tol``), ``dropout``, ``dtype``, ``random_state``.
    Labels may be any values; ``classes_`` maps them to the output units.
    """

    def fit(self, X: Any, y: Any) -> "MLPClassifier":
        from .losses import SoftmaxCrossEntropy
        y = np.asarray(y)
        if y.ndim != 1:
            raise LabelError(f"y must be a 1-D array of class labels, got shape {y.shape}")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise LabelError(f"MLPClassifier needs at least 2 classes in y, got {len(self.classes_)}")
        return self._fit(X, encoded, len(self.classes_), SoftmaxCrossEntropy())

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the network output: ``P(class k | x)``, shape (n_samples, n_classes)."""
        z = self._forward(X).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        labels = self._forward(X).argmax(axis=1)
        return self.classes_[labels]


class MLPRegressor(_RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained with the sum-of-squares loss (linear output).

    Same arguments as :class:`MLPClassifier`. ``y`` of shape (n,) predicts shape (n,).
    """

    def fit(self, X: Any, y: Any) -> "MLPRegressor":
        from .losses import EuclideanLoss
        y = as_float_array(y, "y", dtype=np.dtype(self.dtype))
        self._y_1d = y.ndim == 1
        targets = y.reshape(len(y), -1)
        return self._fit(X, targets, targets.shape[1], EuclideanLoss())

    def predict(self, X: Any) -> np.ndarray:
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out
