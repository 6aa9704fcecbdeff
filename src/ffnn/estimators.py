"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by ffnn's engine.

Every constructor parameter and fitted attribute that ``sklearn.neural_network``'s
estimators document is here with the same meaning, so one replaces the other in a
script, a :class:`~sklearn.pipeline.Pipeline` or a ``GridSearchCV``; ffnn adds any
activation of :data:`ffnn.catalog.ACTIVATIONS`, any optimizer of
:data:`ffnn.catalog.OPTIMIZERS` as ``solver``, ``dropout`` and ``dtype``. Training goes
through :class:`ffnn.Trainer` (``solver="lbfgs"`` through :mod:`scipy.optimize`, see
:mod:`ffnn._lbfgs`), and the fitted network ``model_`` is an :class:`ffnn.Sequential`
that ``ffnn.save`` writes, with the classes and the task in its metadata.

scikit-learn's algorithm, piece by piece, and where it lives here:

- **Objective.** The mean loss of a batch plus the L2 penalty ``(alpha / 2 n_b) ||W||^2``
  over the weights (not the biases), ``n_b`` the batch's size (its sum of sample weights);
  its gradient ``alpha W / n_b`` is added before each step by :class:`_SklearnObjective`.
  ``loss_``/``loss_curve_`` are that objective averaged over an epoch's batches (weighted
  by their sizes); for regression the squared error is averaged over the outputs too
  (scikit-learn's ``0.5 * mean((y - t)^2)``), while its gradient is that of the per-sample
  sum, as scikit-learn's.
- **Output.** Regression: identity and the squared error. Classification: softmax and
  cross-entropy for more than two classes; one logistic unit and binary cross-entropy for
  two classes; one logistic unit per label for multilabel ``y`` (an indicator matrix).
- **Initialisation.** Glorot-uniform weights *and* biases in ``+-sqrt(6 / (fan_in +
  fan_out))`` (``sqrt(2 / ...)`` for the logistic activation) drawn from
  ``check_random_state(random_state)`` in scikit-learn's order, so the same
  ``random_state`` gives the same initial network as scikit-learn's.
- **Solvers.** ``"sgd"``: ``v <- momentum v - lr g; w <- w + v`` (Nesterov's
  ``w <- w + momentum v - lr g`` when ``nesterovs_momentum``). ``"adam"``: scikit-learn's
  Adam, ``w <- w - lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) + epsilon)``: ffnn's
  Adam with its epsilon set to ``epsilon / sqrt(1 - beta_2^t)`` before step ``t``
  (:class:`_SklearnAdamEpsilon`), the same update.
- **Learning rate** (``solver="sgd"``): ``"constant"``; ``"invscaling"``:
  ``lr = learning_rate_init / (t_ + 1)^power_t`` set at the end of every epoch, ``t_``
  the number of samples seen (as scikit-learn, which updates it once per epoch, not per
  step); ``"adaptive"``: divided by 5 whenever ``n_iter_no_change`` epochs in a row fail
  to improve by ``tol``, and training stops once it is at most 1e-6.
- **Stopping.** :class:`ffnn.callbacks.EarlyStopping` with ``rule="sklearn"``, patience
  ``n_iter_no_change + 1`` (scikit-learn stops when the count *exceeds* it) and
  ``min_delta=tol``: on the training objective (``best_loss_``), or with
  ``early_stopping=True`` on the validation score (accuracy or R^2,
  ``validation_scores_``), whose best weights are restored at the end. The validation
  split is scikit-learn's own ``train_test_split(X, Y, test_size=validation_fraction,
  random_state=rng, stratify=...)`` called with the same generator in the same state.
- **Not the same.** With ``shuffle=True`` the epoch order is drawn by the engine's
  generator (seeded from ``random_state``), not by scikit-learn's ``shuffle``: the
  trajectories are equal with ``shuffle=False``. Sparse ``X`` (``scipy.sparse``) is
  accepted and densified as a whole (training and prediction work on dense arrays).
  ``solver="lbfgs"`` minimises the objective with the loss value consistent with its
  gradient (scikit-learn's multi-output regression reports the value averaged over the
  outputs but the gradient of the sum); ``loss_`` is reported on scikit-learn's scale.

Examples
--------
>>> from ffnn import data
>>> from ffnn.estimators import MLPClassifier
>>> xor = data.load("xor", n=200, noise=0.0, seed=0)
>>> clf = MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", solver="adam",
...                     learning_rate_init=0.02, max_iter=200, random_state=0).fit(xor.X_train, xor.y_train)
>>> clf.score(xor.X_test, xor.y_test) > 0.9
True
>>> clf.out_activation_, [c.shape for c in clf.coefs_]
('logistic', [(2, 16), (16, 1)])
>>> clf.model_.metadata["task"], clf.model_.metadata["class_names"]
('classification', ['0', '1'])
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from abc import ABCMeta, abstractmethod
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from . import catalog
from ._estimator import ClassifierMixin, Estimator, RegressorMixin, check_fitted, require_sklearn
from ._validation import check_choice, check_dtype, check_int, check_number
from .callbacks import Callback, EarlyStopping
from .errors import ConfigError, LabelError
from .losses import BinaryCrossEntropy, EuclideanLoss, Loss, SoftmaxCrossEntropy
from .recipe import Recipe, run_metadata

if TYPE_CHECKING:
    from .data import Dataset
    from .model import Sequential
    from .optim import Optimizer

__all__ = ["MLPClassifier", "MLPRegressor"]

SOURCE = "ffnn.estimators"
"""The ``source`` recorded in the metadata of the networks these estimators train."""


class _SklearnObjective(Callback):
    """scikit-learn's objective through the engine: before each step, add ``alpha W / n_b``
    to each weight's gradient (``n_b``: the batch's size, or its sum of sample weights); at
    each epoch's end, record the objective (``logs["objective"]``), the validation score
    (``logs["val_score"]``) and ``t_``, and set the ``invscaling`` learning rate."""

    def __init__(self, est: _BaseMLP, n_train: int, loss_divisor: int, validation: tuple[Any, ...] | None,
                 invscaling: bool) -> None:
        self.est, self.n_train, self.loss_divisor = est, n_train, loss_divisor
        self.validation, self.invscaling = validation, invscaling
        self._penalty = 0.0

    def on_epoch_begin(self, epoch: int) -> None:
        self._penalty = 0.0

    def on_before_step(self, batch: int) -> None:
        trainer, alpha = self.trainer, self.est.alpha
        xb, wb = trainer.last_batch, trainer.last_weights
        assert xb is not None
        n_b = len(xb) if wb is None else float(wb.sum())
        squares = 0.0
        for p in self.model.parameters():
            if p.decay:
                squares += float(np.vdot(p.value, p.value))
                if alpha:
                    p.grad += (alpha / n_b) * p.value
        self._penalty += 0.5 * alpha * squares / n_b * len(xb)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        est = self.est
        loss = logs["loss"] / self.loss_divisor + self._penalty / self.n_train
        logs["objective"] = loss
        est.loss_, est.t_, est.n_iter_ = loss, est.t_ + self.n_train, est.n_iter_ + 1
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}", file=sys.stderr)
        if self.validation is not None:
            X_val, y_val, w_val = self.validation
            score = est._validation_score(X_val, y_val, w_val)
            logs["val_score"] = score
            assert est.validation_scores_ is not None
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}", file=sys.stderr)
        if self.invscaling:
            self.trainer.optimizer.lr = float(est.learning_rate_init) / (est.t_ + 1) ** float(est.power_t)


class _SklearnAdamEpsilon(Callback):
    """Turn ffnn's Adam (PyTorch's epsilon placement) into scikit-learn's: before step ``t``
    its epsilon is ``epsilon / sqrt(1 - beta_2^t)``, which makes
    ``lr / (1 - b1^t) m / (sqrt(v / (1 - b2^t)) + eps')`` equal to scikit-learn's
    ``lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + epsilon)``."""

    def __init__(self, epsilon: float, beta_2: float) -> None:
        self.epsilon, self.beta_2 = epsilon, beta_2

    def on_before_step(self, batch: int) -> None:
        optimizer: Any = self.trainer.optimizer
        t = optimizer.step_count + 1
        optimizer.eps = self.epsilon / math.sqrt(1.0 - self.beta_2 ** t)


class _BaseMLP(Estimator, metaclass=ABCMeta):
    """What :class:`MLPClassifier` and :class:`MLPRegressor` share (see the module docstring)."""

    # fitted attributes (set by fit; listed for the type checker)
    n_features_in_: int
    n_iter_: int
    t_: int
    loss_: float
    loss_curve_: list[float]
    best_loss_: float | None
    validation_scores_: list[float] | None
    best_validation_score_: float | None
    model_: Sequential

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *, solver: str = "adam",
                 alpha: float = 1e-4, batch_size: int | str = "auto", learning_rate: str = "constant",
                 learning_rate_init: float = 1e-3, power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False, warm_start: bool = False,
                 momentum: float = 0.9, nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int | float = 10, max_fun: int = 15000,
                 dropout: float = 0.0, dtype: str | None = None) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype

    # -- the fitted network as scikit-learn's attributes ---------------------------------
    def _linear_layers(self) -> list[Any]:
        return [layer for layer in self.model_.layers if getattr(layer, "weight", None) is not None]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrices, ``coefs_[i]`` of shape (units of layer i, units of layer i+1):
        views of the network's weights (``Linear.weight`` transposed)."""
        return [layer.weight.value.T for layer in self._linear_layers()]

    @coefs_.setter
    def coefs_(self, values: list[np.ndarray]) -> None:
        _assign([layer.weight.value.T for layer in self._linear_layers()], values, "coefs_")

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vectors, ``intercepts_[i]`` of shape (units of layer i+1,): views."""
        return [layer.bias.value for layer in self._linear_layers()]

    @intercepts_.setter
    def intercepts_(self, values: list[np.ndarray]) -> None:
        _assign([layer.bias.value for layer in self._linear_layers()], values, "intercepts_")

    # -- checks ---------------------------------------------------------------------------
    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        try:
            sizes = list(sizes)
        except TypeError:
            raise ConfigError(f"hidden_layer_sizes must be an int or a sequence of ints, got {sizes!r}") from None
        return [check_int("hidden_layer_sizes entry", int(s) if isinstance(s, np.integer) else s, low=1)
                for s in sizes]

    def _check_params(self) -> None:
        """Validate every hyper-parameter (eagerly, naming the value and what was expected)."""
        self._hidden()
        catalog.ACTIVATIONS.entry(self.activation)
        if self.solver != "lbfgs":
            check_choice("solver", self.solver, ("lbfgs", *catalog.OPTIMIZERS.names()))
        check_number("alpha", self.alpha, low=0.0)
        if self.batch_size != "auto":
            check_int("batch_size", self.batch_size, low=1)
        check_choice("learning_rate", self.learning_rate, ("constant", "invscaling", "adaptive"))
        check_number("learning_rate_init", self.learning_rate_init, low=0.0, low_inclusive=False)
        check_number("power_t", self.power_t, low=0.0)
        check_int("max_iter", self.max_iter, low=1)
        check_number("tol", self.tol, low=0.0)
        check_number("momentum", self.momentum, low=0.0, high=1.0)
        check_number("validation_fraction", self.validation_fraction, low=0.0, high=1.0, high_inclusive=False)
        check_number("beta_1", self.beta_1, low=0.0, high=1.0, high_inclusive=False)
        check_number("beta_2", self.beta_2, low=0.0, high=1.0, high_inclusive=False)
        check_number("epsilon", self.epsilon, low=0.0, low_inclusive=False)
        if self.n_iter_no_change != np.inf:
            check_int("n_iter_no_change", self.n_iter_no_change, low=1)
        check_int("max_fun", self.max_fun, low=1)
        check_number("dropout", self.dropout, low=0.0, high=1.0, high_inclusive=False)
        if self.dtype is not None:
            check_dtype(self.dtype)
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")

    # -- fitting --------------------------------------------------------------------------
    @abstractmethod
    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        """``X`` as a dense float array and ``Y``, the 2-D targets of the loss."""

    def _dtype(self) -> Any:
        return (np.float64, np.float32) if self.dtype is None else check_dtype(self.dtype)

    def _validate_X(self, X: Any) -> np.ndarray:
        """Prediction input: scikit-learn's checks against the fitted features; dense."""
        from sklearn.utils.validation import validate_data
        return _dense(validate_data(self, X, accept_sparse=["csr", "csc"], dtype=self._dtype(), reset=False))

    def _validate_Xy(self, X: Any, y: Any, reset: bool, **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """Training input: scikit-learn's checks (``reset`` records the features); dense ``X``."""
        from sklearn.utils.validation import validate_data
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=self._dtype(),
                             reset=reset, **options)
        return _dense(X), y

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False) -> _BaseMLP:
        require_sklearn(type(self).__name__)
        from sklearn.utils import check_random_state
        from sklearn.utils.validation import _check_sample_weight
        self._check_params()
        first = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        hidden = self._hidden()
        units = [X.shape[1], *hidden, Y.shape[1]]
        rng = check_random_state(self.random_state)
        if first:
            self._initialize(Y, units, X.dtype, rng)
        elif [c.shape for c in self.coefs_] != [(a, b) for a, b in zip(units[:-1], units[1:], strict=False)] \
                or self.model_.dtype != X.dtype:
            raise ConfigError(f"{type(self).__name__} was fitted with layers {[self.n_features_in_, *hidden]} "
                              f"-> {self.n_outputs_} outputs in {self.model_.dtype}; warm_start and partial_fit "
                              f"need the same, got {units} in {X.dtype}")
        if self.solver == "lbfgs":
            from ._lbfgs import fit_lbfgs
            fit_lbfgs(self, X, Y, sample_weight)
        else:
            self._fit_stochastic(X, Y, sample_weight, incremental, rng)
        if not all(np.isfinite(p.value).all() for p in self.model_.parameters()):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        self._record_metadata(X.shape[1], hidden)
        return self

    def _initialize(self, Y: np.ndarray, units: list[int], dtype: np.dtype, rng: np.random.RandomState) -> None:
        """The fitted attributes of a first fit and scikit-learn's Glorot-uniform network."""
        from .builder import mlp
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(units)
        self.out_activation_ = self._out_activation(Y)
        # the layers' own randomness (dropout, RReLU): from the generator's state, without drawing
        layer_seed = _state_seed(rng)
        self.model_ = mlp(units, self.activation, dropout=self.dropout, dtype=dtype, seed=layer_seed)
        factor = 2.0 if catalog.ACTIVATIONS.entry(self.activation).name == "sigmoid" else 6.0
        for layer, fan_in, fan_out in zip(self._linear_layers(), units[:-1], units[1:], strict=True):
            bound = np.sqrt(factor / (fan_in + fan_out))
            layer.weight.value[...] = rng.uniform(-bound, bound, (fan_in, fan_out)).T
            layer.bias.value[...] = rng.uniform(-bound, bound, fan_out)
        self._optimizer_state: dict[str, Any] | None = None
        self._stopper_state: dict[str, Any] | None = None
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_: float | None = None
            else:
                self.validation_scores_ = self.best_validation_score_ = None
                self.best_loss_ = np.inf

    def _out_activation(self, Y: np.ndarray) -> str:
        return "identity"

    def _loss(self) -> Loss:
        """The engine's loss for the output: softmax cross-entropy, binary cross-entropy on
        logistic units, or the squared error."""
        if self.out_activation_ == "softmax":
            return SoftmaxCrossEntropy()
        if self.out_activation_ == "logistic":
            return BinaryCrossEntropy(from_logits=True)
        return EuclideanLoss()

    def _targets(self, Y: np.ndarray) -> np.ndarray:
        """``Y`` as the loss takes it (class indices for softmax)."""
        if self.out_activation_ == "softmax":
            return Y.argmax(axis=1)
        return Y.astype(self.model_.dtype)

    def _optimizer(self) -> Optimizer:
        """scikit-learn's "sgd" and "adam", or any optimizer of the catalogue by name."""
        from .optim import Adam
        params = self.model_.parameters()
        lr = float(self.learning_rate_init)
        if self.solver == "sgd":                   # the catalogue's SGD family by its momentum
            name = "sgd" if self.momentum == 0 else "nesterov" if self.nesterovs_momentum else "momentum"
            return catalog.optimizer(name, params, lr, float(self.momentum), 0.0)
        if self.solver == "adam":
            return Adam(params, lr=lr, betas=(float(self.beta_1), float(self.beta_2)), eps=float(self.epsilon))
        return catalog.optimizer(self.solver, params, lr, float(self.momentum), 0.0)

    def _fit_stochastic(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None, incremental: bool,
                        rng: np.random.RandomState) -> None:
        from .train import Trainer
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        X_train, Y_train, w_train = X, Y, sample_weight
        if self.early_stopping:
            from sklearn.model_selection import train_test_split
            stratify = Y if isinstance(self, ClassifierMixin) and self.n_outputs_ == 1 else None
            arrays = [X, Y] if sample_weight is None else [X, Y, sample_weight]
            parts = train_test_split(*arrays, random_state=rng, test_size=self.validation_fraction,
                                     stratify=stratify)
            X_train, X_val, Y_train, Y_val = parts[:4]
            w_train, w_val = (None, None) if sample_weight is None else parts[4:]
            if X_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size "
                                 "of your dataset.")
            validation = (X_val, Y_val, w_val)
        n = X_train.shape[0]
        if self.batch_size == "auto":
            batch = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be "
                              "clipped", stacklevel=3)
            batch = int(np.clip(self.batch_size, 1, n))
        optimizer = self._optimizer()
        if incremental and self._optimizer_state is not None:   # partial_fit continues the optimizer
            optimizer.load_state_dict(self._optimizer_state)
        sgd = self.solver == "sgd"
        callbacks: list[Callback] = [_SklearnObjective(self, n, self.n_outputs_ if self.out_activation_ == "identity"
                                                       else 1, validation, sgd and self.learning_rate == "invscaling")]
        if self.solver == "adam":
            callbacks.append(_SklearnAdamEpsilon(float(self.epsilon), float(self.beta_2)))
        patience = sys.maxsize if self.n_iter_no_change == np.inf else int(self.n_iter_no_change) + 1
        stopper = EarlyStopping(patience, float(self.tol), restore_best=bool(self.early_stopping),
                                monitor="val_score" if self.early_stopping else "objective",
                                mode="max" if self.early_stopping else "min", rule="sklearn",
                                reduce_lr=5.0 if sgd and self.learning_rate == "adaptive" else None,
                                min_lr=1e-6, reset=False)
        trainer = Trainer(self.model_, self._loss(), optimizer, callbacks=callbacks, early_stopping=stopper,
                          batch_size=batch, shuffle=bool(self.shuffle), seed=_state_seed(rng),
                          progress=False)
        if self._stopper_state is not None:
            stopper.load_state_dict(self._stopper_state)
        elif self.early_stopping:
            stopper.best = float(self.best_validation_score_)  # type: ignore[arg-type]
        else:
            stopper.best = float(self.best_loss_)  # type: ignore[arg-type]
        self.n_iter_ = 0
        history = trainer.fit(X_train, self._targets(Y_train), 1 if incremental else int(self.max_iter),
                              sample_weight=w_train)
        self._optimizer_state = optimizer.state_dict()
        self._stopper_state = stopper.state_dict()
        if self.early_stopping:
            self.best_validation_score_ = float(stopper.best)
        else:
            self.best_loss_ = float(stopper.best)
        if not incremental and not history.stopped_early and self.n_iter_ == self.max_iter:
            from sklearn.exceptions import ConvergenceWarning
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning, stacklevel=3)

    def _record_metadata(self, n_features: int, hidden: list[int]) -> None:
        """The model metadata of every ffnn run, with the estimator's :class:`~ffnn.recipe.Recipe`."""
        solver = self.solver
        if solver in ("sgd", "lbfgs"):
            solver = "sgd" if self.momentum == 0 or solver == "lbfgs" else \
                "nesterov" if self.nesterovs_momentum else "momentum"
        loss = {"softmax": "ce", "logistic": "bce"}.get(self.out_activation_, "mse")
        seed = self.random_state
        recipe = Recipe(data="arrays", preprocess="none", hidden=",".join(map(str, hidden)) or "0",
                        activation=self.activation, dropout=self.dropout, dtype=np.dtype(self.model_.dtype).name,
                        loss=loss,
                        optimizer=solver, lr=self.learning_rate_init, momentum=self.momentum, weight_decay=0.0,
                        epochs=self.max_iter, batch_size=200 if self.batch_size == "auto" else int(self.batch_size),
                        val_fraction=self.validation_fraction if self.early_stopping else 0.0,
                        early_stopping=int(self.n_iter_no_change) if self.early_stopping and
                        self.n_iter_no_change != np.inf else None,
                        seed=_recipe_seed(seed))
        classes = getattr(self, "classes_", None)
        self.model_.metadata.update(run_metadata(
            recipe, _describe(n_features, self.n_outputs_, classes), self._loss(), None, source=SOURCE,
            extra={"data": None, "data_options": None, "solver": self.solver, "alpha": float(self.alpha)}))

    # -- prediction -------------------------------------------------------------------------
    def _forward(self, X: Any) -> np.ndarray:
        """The network's raw output (logits or values) for validated input."""
        check_fitted(self)
        return self.model_.predict(self._validate_X(X))

    def _output(self, z: np.ndarray) -> np.ndarray:
        """The output activation of scikit-learn's network on the raw outputs ``z``."""
        from ._math import sigmoid
        if self.out_activation_ == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if self.out_activation_ == "logistic":
            return sigmoid(z)
        return z

    @abstractmethod
    def _validation_score(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None) -> float:
        """scikit-learn's ``score`` (accuracy, R^2) of the network on validated held-out data."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.sparse = True
        return tags


def _state_seed(rng: np.random.RandomState) -> np.random.Generator:
    """A Generator seeded by ``rng``'s state, without drawing from ``rng`` (scikit-learn's
    draws from it stay in its order)."""
    return np.random.default_rng(cast(Any, rng.get_state())[1])


def _recipe_seed(seed: Any) -> int:
    """The recipe's ``seed``: ``random_state`` when it is a non-negative int, else 0."""
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and int(seed) >= 0:
        return int(seed)
    return 0


def _assign(targets: list[np.ndarray], values: list[Any], name: str) -> None:
    if len(values) != len(targets) or any(np.shape(v) != t.shape for v, t in zip(values, targets, strict=False)):
        raise ConfigError(f"{name} must be {len(targets)} arrays of shapes {[t.shape for t in targets]}, "
                          f"got {[np.shape(v) for v in values]}")
    for t, v in zip(targets, values, strict=True):
        t[...] = v


def _dense(X: Any) -> Any:
    """A sparse matrix as a dense array (the network's layers take dense batches)."""
    return X.toarray() if hasattr(X, "toarray") else X


def _describe(n_features: int, n_outputs: int, classes: np.ndarray | None) -> Dataset:
    """A :class:`~ffnn.data.Dataset` with no rows that has the task, classes and feature count
    of the training arrays: what :func:`~ffnn.recipe.run_metadata` reads from a data set."""
    from .data import Dataset
    X = np.zeros((0, n_features), np.float32)
    if classes is None:
        y = np.zeros((0, n_outputs), np.float32)
        return Dataset("arrays", X, y, X, y, "regression", None)
    labels = np.zeros(0, np.int64)
    return Dataset("arrays", X, labels, X, labels, "classification", len(classes),
                   class_names=tuple(str(c) for c in classes))


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by ffnn.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default (100,)
    activation : str, default "relu"
        scikit-learn's "identity", "logistic", "tanh", "relu", or any name of
        :data:`ffnn.catalog.ACTIVATIONS`.
    solver : str, default "adam"
        "lbfgs" (:mod:`scipy.optimize`), "sgd", "adam" (scikit-learn's), or any optimizer
        name of :data:`ffnn.catalog.OPTIMIZERS` ("adamw", "rmsprop", ... with
        ``learning_rate_init`` and ``momentum``).
    alpha : float, default 1e-4
        The L2 penalty ``(alpha / 2 n_b) ||W||^2`` of each batch (weights only).
    batch_size : int or "auto" (``min(200, n_samples)``)
    learning_rate : "constant", "invscaling" or "adaptive" (``solver="sgd"`` only)
    learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
    momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
    epsilon, n_iter_no_change, max_fun
        As scikit-learn's (see the module docstring for how each is implemented).
        ``random_state`` is None, an int or a ``numpy.random.RandomState``.
    dropout : float, default 0
        ffnn: dropout probability after each hidden activation.
    dtype : None, "float32" or "float64"
        ffnn: the network's dtype; None follows ``X`` (float32 stays float32, anything
        else becomes float64), as scikit-learn.

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_,
    n_outputs_, out_activation_
        As scikit-learn's (``coefs_``/``intercepts_`` are views of the network's weights).
    model_ : ffnn.Sequential
        The fitted network (its output is the logits; ``out_activation_`` is applied by
        :meth:`predict_proba`).
    """

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.preprocessing import LabelBinarizer
        from sklearn.utils.multiclass import check_classification_targets, unique_labels
        from sklearn.utils.validation import column_or_1d
        X, y = self._validate_Xy(X, y, reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
            if len(self.classes_) < 2:
                raise LabelError(f"{type(self).__name__} needs at least 2 classes in y, got 1 class "
                                 f"({self.classes_.tolist()})")
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise LabelError(f"warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise LabelError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _out_activation(self, Y: np.ndarray) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features; dense or sparse) and the labels ``y``
        (n_samples,), or an indicator matrix (n_samples, n_labels) for multilabel."""
        return self._fit(X, y, sample_weight, incremental=False)  # type: ignore[return-value]

    @property
    def partial_fit(self) -> Any:
        """One epoch over ``(X, y)``: ``partial_fit(X, y, sample_weight=None, classes=None)``;
        ``classes`` (every label) is required on the first call. Not for ``solver="lbfgs"``
        (an AttributeError, as scikit-learn)."""
        if self.solver == "lbfgs":
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return self._partial_fit

    def _partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        require_sklearn(type(self).__name__)
        from sklearn.preprocessing import LabelBinarizer
        from sklearn.utils.multiclass import _check_partial_fit_first_call, type_of_target
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
        return self._fit(X, y, sample_weight, incremental=True)  # type: ignore[return-value]

    def predict_proba(self, X: Any) -> np.ndarray:
        """``P(class k | x)``, shape (n_samples, n_classes), columns in ``classes_`` order
        (binary: ``[1 - p, p]``; multilabel: each label's probability)."""
        p = self._output(self._forward(X))
        if self.n_outputs_ == 1:
            return np.hstack([1.0 - p, p])
        return p

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``."""
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba, out=proba)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each sample (multilabel: every label above 0.5)."""
        return self._labels(self._output(self._forward(X)))

    def _labels(self, p: np.ndarray) -> np.ndarray:
        return self._label_binarizer.inverse_transform(p[:, 0] if self.n_outputs_ == 1 else p)

    def _validation_score(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None) -> float:
        from sklearn.metrics import accuracy_score
        p = self._output(self.model_.predict(X))
        if not np.isfinite(p).all():
            return np.nan
        y_true = self._label_binarizer.inverse_transform(Y[:, 0] if self.n_outputs_ == 1 else Y)
        return float(accuracy_score(y_true, self._labels(p), sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by ffnn.

    ``loss`` is "squared_error" (half the squared error, identity output). The other
    parameters and the attributes are :class:`MLPClassifier`'s (no ``classes_``);
    ``y`` of shape (n,) predicts shape (n,), ``y`` (n, k) predicts (n, k).
    """

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 1e-4, batch_size: int | str = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 1e-3, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8,
                 n_iter_no_change: int | float = 10, max_fun: int = 15000, dropout: float = 0.0,
                 dtype: str | None = None) -> None:
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype)
        self.loss = loss

    def _check_params(self) -> None:
        check_choice("loss", self.loss, ("squared_error",))
        super()._check_params()

    def _validate_input(self, X: Any, y: Any, incremental: bool, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.utils.validation import column_or_1d
        X, y = self._validate_Xy(X, y, reset, y_numeric=True)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if reset or not hasattr(self, "_y_1d"):
            self._y_1d = y.ndim == 1
        return X, y.reshape(len(y), -1)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train on ``X`` (n_samples, n_features; dense or sparse) and ``y`` (n_samples,) or
        (n_samples, n_outputs)."""
        return self._fit(X, y, sample_weight, incremental=False)  # type: ignore[return-value]

    @property
    def partial_fit(self) -> Any:
        """One epoch over ``(X, y)``: ``partial_fit(X, y, sample_weight=None)``. Not for
        ``solver="lbfgs"`` (an AttributeError, as scikit-learn)."""
        if self.solver == "lbfgs":
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. {self.solver} is not "
                                 "stochastic.")
        return self._partial_fit

    def _partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        return self._fit(X, y, sample_weight, incremental=True)  # type: ignore[return-value]

    def predict(self, X: Any) -> np.ndarray:
        """The network output: shape (n_samples,) for a 1-D ``y``, else (n_samples, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if self.n_outputs_ == 1 else out

    def _validation_score(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None) -> float:
        from sklearn.metrics import r2_score
        pred = self.model_.predict(X)
        if not np.isfinite(pred).all():
            return np.nan
        return float(r2_score(Y, pred, sample_weight=sample_weight))
