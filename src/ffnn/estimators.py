"""scikit-learn compatible estimators: ``MLPClassifier`` and ``MLPRegressor``.

They follow scikit-learn's conventions (constructor arguments stored unchanged,
``get_params``/``set_params``, ``fit``/``predict``/``score``, fitted attributes ending in
``_``) and work with its pipelines, ``cross_val_score`` and ``GridSearchCV``. Their base is
:class:`ffnn._estimator.Estimator`: with scikit-learn installed it subclasses its
``BaseEstimator`` and mixins; without it they still work on their own. The argument names
match ``sklearn.neural_network.MLPClassifier`` where the meaning is the same (``alpha`` is the
L2 penalty: ffnn's ``weight_decay``).

Names come from the catalogue (:mod:`ffnn.catalog`): ``activation`` is any name of
:data:`~ffnn.catalog.ACTIVATIONS`, ``solver`` any name of :data:`~ffnn.catalog.OPTIMIZERS`,
with scikit-learn's meaning for ``"sgd"`` (see :class:`MLPClassifier`). The fitted network
``model_`` carries the model metadata of every ffnn run (:func:`ffnn.recipe.run_metadata`,
with the :class:`~ffnn.recipe.Recipe` that describes the estimator), so ``ffnn.save`` and
``ffnn.load`` keep its classes and its task.

Examples
--------
>>> from ffnn import data
>>> from ffnn.estimators import MLPClassifier
>>> xor = data.load("xor", n=200, noise=0.0, seed=0)
>>> clf = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", solver="adam",
...                     learning_rate_init=0.02, max_iter=200, random_state=0).fit(xor.X_train, xor.y_train)
>>> clf.score(xor.X_test, xor.y_test) > 0.9
True
>>> clf.model_.metadata["task"], clf.model_.metadata["class_names"], clf.model_.metadata["recipe"]["optimizer"]
('classification', ['0', '1'], 'adam')
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from . import catalog
from ._estimator import ClassifierMixin, Estimator, RegressorMixin
from ._validation import as_float_array, check_choice, check_dtype, check_int, check_number
from .errors import ConfigError, LabelError
from .losses import Loss
from .recipe import Recipe, run_metadata

if TYPE_CHECKING:
    from .data import Dataset

__all__ = ["MLPClassifier", "MLPRegressor"]

SOURCE = "ffnn.estimators"
"""The ``source`` recorded in the metadata of the networks these estimators train."""


class _BaseMLP(Estimator):
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

    def _optimizer_name(self) -> str:
        """The catalogue name of the solver: scikit-learn's "sgd" is SGD with ``momentum``
        (Nesterov's when ``nesterovs_momentum``), plain SGD when the momentum is 0."""
        solver = check_choice("solver", self.solver, catalog.OPTIMIZERS.names())
        if solver != "sgd":
            return solver
        if self.momentum == 0:
            return "sgd"
        return "nesterov" if self.nesterovs_momentum else "momentum"

    def _recipe(self, hidden: list[int], dtype: np.dtype, loss: str, optimizer: str, batch_size: int,
                validation: float | None) -> Recipe:
        """The :class:`~ffnn.recipe.Recipe` that describes this estimator's training run (its
        ``seed`` is ``random_state``, or 0 when that is not a non-negative integer)."""
        seed = self.random_state
        return Recipe(data="arrays", preprocess="none", hidden=",".join(map(str, hidden)) or "0",
                      activation=self.activation, dropout=self.dropout, dtype=dtype.name, loss=loss,
                      optimizer=optimizer, lr=self.learning_rate_init, momentum=self.momentum,
                      weight_decay=self.alpha, epochs=self.max_iter, batch_size=batch_size,
                      val_fraction=validation or 0.0,
                      early_stopping=self.n_iter_no_change if self.early_stopping else None,
                      seed=int(seed) if isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
                      and seed >= 0 else 0)

    def _fit(self, X: Any, targets: np.ndarray, n_outputs: int, loss_name: str,
             classes: np.ndarray | None) -> _BaseMLP:
        from . import fit
        from .builder import mlp
        from .train import EarlyStopping
        dtype = check_dtype(self.dtype)
        X = as_float_array(X, "X", dtype=dtype, ndim=2)
        hidden = self._hidden()
        momentum = check_number("momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False)
        optimizer_name = self._optimizer_name()
        lr = check_number("learning_rate_init", self.learning_rate_init, low=0.0, low_inclusive=False)
        alpha = check_number("alpha", self.alpha, low=0.0)
        epochs = check_int("max_iter", self.max_iter, low=1)
        batch = len(X) if self.batch_size is None else min(check_int("batch_size", self.batch_size, low=1), len(X))
        stopper = (EarlyStopping(patience=check_int("n_iter_no_change", self.n_iter_no_change, low=1),
                                 min_delta=check_number("tol", self.tol, low=0.0)) if self.early_stopping else None)
        validation = check_number("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                                  low_inclusive=False, high_inclusive=False) if self.early_stopping else None
        self.n_features_in_ = X.shape[1]
        self.model_ = mlp([X.shape[1], *hidden, n_outputs], self.activation, dropout=self.dropout,
                          dtype=dtype, seed=self.random_state)
        optimizer = catalog.optimizer(optimizer_name, self.model_.parameters(), lr, momentum, alpha)
        loss: Loss = catalog.loss(loss_name)
        recipe = self._recipe(hidden, dtype, loss_name, optimizer_name, batch, validation)
        self.model_.metadata.update(run_metadata(
            recipe, _describe(X.shape[1], targets, classes), loss, None, source=SOURCE,
            extra={"data": None, "data_options": None}))  # trained on arrays: no data set to reload
        self.history_ = fit(self.model_, loss, optimizer, X, targets, epochs=epochs,
                            batch_size=None if self.batch_size is None else batch, validation=validation,
                            early_stopping=stopper, seed=self.random_state, progress=False,
                            verbose=bool(self.verbose))
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
            raise ShapeError(f"X has {X.shape[1]} features, but {type(self).__name__} was fitted with "
                             f"{self.n_features_in_}")
        return self.model_.predict(X)


def _describe(n_features: int, targets: np.ndarray, classes: np.ndarray | None) -> Dataset:
    """A :class:`~ffnn.data.Dataset` with no rows that has the task, classes and feature count
    of the training arrays: what :func:`~ffnn.recipe.run_metadata` reads from a data set."""
    from .data import Dataset
    X = np.zeros((0, n_features), np.float32)
    if classes is None:
        y = np.zeros((0, *targets.shape[1:]), np.float32)
        return Dataset("arrays", X, y, X, y, "regression", None)
    labels = np.zeros(0, np.int64)
    return Dataset("arrays", X, labels, X, labels, "classification", len(classes),
                   class_names=tuple(str(c) for c in classes))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier trained with softmax cross-entropy.

    ``hidden_layer_sizes``, ``activation`` (any name of :data:`ffnn.catalog.ACTIVATIONS`),
    ``solver`` (any name of :data:`ffnn.catalog.OPTIMIZERS`: "adam", "adamw", "rmsprop",
    "adagrad", "momentum" and "nesterov" (with ``momentum``), and scikit-learn's "sgd": SGD
    with ``momentum``, Nesterov's when ``nesterovs_momentum``, plain when ``momentum`` is 0),
    ``alpha`` (L2 weight decay on weights only), ``batch_size``, ``learning_rate_init``,
    ``max_iter`` (epochs), ``early_stopping`` (on a held-out ``validation_fraction``, patience
    ``n_iter_no_change``, improvement ``tol``), ``dropout``, ``dtype``, ``random_state``.
    Labels may be any values; ``classes_`` maps them to the output units, and the network
    ``model_`` records them (as strings) in its metadata.
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features) and the class labels ``y`` (n_samples,)."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise LabelError(f"y must be a 1-D array of class labels, got shape {y.shape}")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise LabelError(f"MLPClassifier needs at least 2 classes in y, got {len(self.classes_)}")
        self._fit(X, encoded.reshape(-1), len(self.classes_), "ce", self.classes_)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the network output: ``P(class k | x)``, shape (n_samples, n_classes)."""
        z = self._forward(X).astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label (a value of ``classes_``) for each sample."""
        labels = self._forward(X).argmax(axis=1)
        return self.classes_[labels]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor trained with the sum-of-squares loss (linear output).

    Same arguments as :class:`MLPClassifier`. ``y`` of shape (n,) predicts shape (n,).
    """

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on ``X`` (n_samples, n_features) and the targets ``y`` (n_samples,) or (n_samples, n_outputs)."""
        y = as_float_array(y, "y", dtype=check_dtype(self.dtype))
        self._y_1d = y.ndim == 1
        targets = y.reshape(len(y), -1)
        self._fit(X, targets, targets.shape[1], "mse", None)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The network output: shape (n_samples,) for a 1-D ``y``, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if self._y_1d else out
