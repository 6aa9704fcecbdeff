"""Loss layers, each the negative log-likelihood of an output distribution.

A loss has ``forward(output, target) -> float`` and ``backward() -> dE/d(output)``. The
per-sample loss ``E^(n)`` sums over the outputs (the course's convention), and
``reduction="mean"`` (default) averages it over the N samples of the batch, ``"sum"`` adds:

    E = (1/N) sum_n E^(n)      or      E = sum_n E^(n)

so ``backward`` returns ``dE^(n)/dy_n / N`` (or without the 1/N). Note the difference from
PyTorch's ``MSELoss``/``BCELoss``, which average over every *element*: for K outputs
``EuclideanLoss`` is ``K/2`` times ``MSELoss`` and ``BinaryCrossEntropy`` is ``K`` times
``BCEWithLogitsLoss``.

Maximum likelihood gives each loss: Gaussian outputs with fixed variance give sum-of-squares
(:class:`EuclideanLoss`); a categorical distribution from a softmax gives cross-entropy
(:class:`SoftmaxCrossEntropy`, :class:`CrossEntropy`); independent Bernoulli outputs give
binary cross-entropy; Bernoulli labels flipped with probability epsilon give
:class:`RobustBinaryCrossEntropy`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from . import backend as _backend
from ._math import log_sigmoid, sigmoid, softplus
from ._typing import Array
from ._validation import as_float_array, check_2d, check_choice, check_labels, check_number
from .errors import LabelError, ShapeError

# LOSSES (loss classes by name) is still importable from here: it is the catalogue's LOSS_CLASSES.
__all__ = ["Loss", "EuclideanLoss", "SoftmaxCrossEntropy", "CrossEntropy", "BinaryCrossEntropy",
           "RobustBinaryCrossEntropy", "TARGET_KINDS"]

TARGET_KINDS = ("classes", "binary", "values")
"""What a loss compares the output with (:attr:`Loss.target_kind`)."""


class Loss(_backend.OnBackend, ABC):
    """Base class: validates shapes, applies the reduction, caches what ``backward`` needs.

    The protocol the training engine relies on (built-in or written by a user):

    - ``forward(output, target) -> float`` and ``backward() -> dE/d(output)``; a loss that
      also takes ``forward(output, target, sample_weight=w)`` (every built-in but
      :class:`CrossEntropy`) can be trained with
      per-sample weights: ``E = sum_n w_n E^(n) / sum_n w_n`` ("mean") or ``sum_n w_n E^(n)``;
    - ``reduction``: ``"mean"`` (the loss of a batch is the mean over its samples) or
      ``"sum"``;
    - ``target_kind``, the targets it takes: ``"classes"`` (integer class labels (N,) in
      [0, K), or class probabilities (N, K)), ``"binary"`` (values in [0, 1] of the output's
      shape, one Bernoulli variable per output) or ``"values"`` (real values of the output's
      shape: regression). The engine checks a whole target array once with
      :meth:`check_targets` before training and reports accuracy through
      :meth:`count_correct` for every kind but ``"values"``.

    A subclass sets ``target_kind`` and implements ``forward``; it may override
    :meth:`count_correct` (how a prediction counts as correct) or :meth:`check_targets`.
    """

    target_kind: ClassVar[str] = "values"

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = check_choice("reduction", reduction, ("mean", "sum"))
        self._grad: np.ndarray | None = None

    @abstractmethod
    def forward(self, output: Array, target: Any) -> float:
        """Return the loss of ``output`` (n_samples, n_outputs) against ``target``."""

    def __call__(self, output: Array, target: Any) -> float:
        return self.forward(output, target)

    def to(self, backend: str | _backend.Backend) -> Loss:
        """Compute on ``backend`` (the network's: the engine calls it), in place; returns self.

        On a backend whose arrays live on a device (``deferred``), :meth:`forward` and
        :meth:`count_correct` return 0-d device arrays instead of Python floats, so that a
        training step never waits for the device; read them with ``float()``.
        """
        target = _backend.get(backend)
        if target is self.backend:
            return self
        self._use_backend(target)
        self._grad = None
        self.__dict__.pop("_row_index", None)
        return self

    def _value(self, value: Any) -> Any:
        """A loss or count as a Python float, or as a 0-d device array on a deferred backend."""
        return value if self.backend.deferred else float(value)

    def _host(self, target: Any) -> bool:
        """Whether ``target`` is a host array to check (not one of the backend's own arrays,
        which the engine checked once, on the host, before moving them)."""
        return self.backend is _backend.NUMPY or not isinstance(target, self._array)

    def backward(self) -> Array:
        """dE/d(output) for the last ``forward`` call, shape of the output; caller-owned."""
        if self._grad is None:
            raise ShapeError(f"{type(self).__name__}.backward called before forward")
        return self._grad

    def _scale(self, n: int) -> float:
        return 1.0 / n if self.reduction == "mean" else 1.0

    def _row_scale(self, output: np.ndarray, sample_weight: Any) -> Any:
        """The factor of each sample's loss and gradient: ``1/N`` ("mean") or 1 ("sum"); with
        per-sample weights ``w``, ``w_n / sum(w)`` ("mean": the weighted mean, as
        scikit-learn's) or ``w_n`` ("sum"), as a column (N, 1) of the output's dtype."""
        if sample_weight is None:
            return self._scale(output.shape[0])
        if self._host(sample_weight):
            w = as_float_array(sample_weight, "sample_weight", dtype=self.backend.numpy_dtype(output.dtype), ndim=1)
            w = self.backend.from_host(w)
        else:
            w = sample_weight
        if w.shape[0] != output.shape[0]:
            raise ShapeError(f"{type(self).__name__}: {w.shape[0]} sample weights for {output.shape[0]} samples")
        return (w / self._xp.sum(w) if self.reduction == "mean" else w)[:, None]

    def _check_output(self, output: Any) -> Any:
        if self._xp is np and type(output) is np.ndarray and output.ndim == 2 and output.dtype.kind == "f" \
                and output.shape[0]:
            return output                        # the common case, checked cheaply
        if not isinstance(output, self._array) or self.backend.numpy_dtype(output.dtype).kind != "f":
            where = "" if self.backend is _backend.NUMPY else f" of the {self.backend.name} backend"
            raise ShapeError(f"{type(self).__name__} expects the network output as a floating-point "
                             f"array{where}, got {type(output).__name__}"
                             + (f" of dtype {output.dtype}" if isinstance(output, self._array) else ""))
        if self.backend is _backend.NUMPY:
            check_2d(output, type(self).__name__)
        elif output.ndim != 2:
            raise ShapeError(f"{type(self).__name__} expects a 2-D output (n_samples, n_outputs), "
                             f"got shape {tuple(output.shape)}")
        if output.shape[0] == 0:
            raise ShapeError(f"{type(self).__name__} got an empty batch (0 samples)")
        return output

    def _target(self, target: Any) -> Any:
        """``target`` as an array: a host array (to be checked) or one of the backend's."""
        if isinstance(target, (str, bytes)):
            return target
        return np.asarray(target) if self._host(target) else target

    def _dense_target(self, output: Any, target: Any) -> Any:
        """Target as an array of the output's shape and dtype, on the output's backend; (N,)
        accepted for one output."""
        if isinstance(target, (str, bytes)):
            raise LabelError(f"{type(self).__name__} expects numeric targets, got the string {target!r}")
        host = self._host(target)
        t = np.asarray(target) if host else target
        if host and t.dtype.kind not in "biuf":
            raise LabelError(f"{type(self).__name__} expects numeric targets, got dtype {t.dtype}")
        if t.ndim == 1 and output.shape[1] == 1:
            t = t[:, None]
        if tuple(t.shape) != tuple(output.shape):
            raise ShapeError(f"{type(self).__name__}: target shape {tuple(t.shape)} does not match the "
                             f"output shape {tuple(output.shape)}")
        if host and self.backend is not _backend.NUMPY:
            return self.backend.asarray(t, dtype=self.backend.numpy_dtype(output.dtype))
        return self._xp.astype(t, output.dtype, copy=False)

    def _labels(self, t: Any, k: int, n: int) -> Any:
        """Class labels (N,) checked to lie in [0, k) (host labels; the backend's own were
        checked by the engine), on the backend."""
        if self._xp is np or self._host(t):
            labels = t if _valid_labels(t, k) else check_labels(t, k, f"{type(self).__name__} labels")
            if self.backend is not _backend.NUMPY:
                labels = self.backend.asarray(labels)
        else:
            labels = t
        if labels.shape[0] != n:
            raise ShapeError(f"{type(self).__name__}: {labels.shape[0]} labels for {n} outputs")
        return labels

    def _one_hot_target(self, output: Any, target: Any) -> Any:
        """Target as an (N, K) array of the output's dtype: (N,) class labels become one-hot rows
        (for K > 1); any other target goes through :meth:`_dense_target`."""
        n, k = output.shape
        t = self._target(target)
        if isinstance(t, (str, bytes)) or not (t.ndim == 1 and k > 1):
            return self._dense_target(output, t)
        return self.backend.one_hot(self._labels(t, k, n), k, output.dtype)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}

    @property
    def decision_threshold(self) -> float:
        """For ``"binary"`` targets: an output above it predicts 1 (0.5 by default)."""
        return 0.5

    @property
    def classification(self) -> bool:
        """Whether predictions can be right or wrong (every target kind but ``"values"``)."""
        return self.target_kind != "values"

    def check_targets(self, target: Any, n_outputs: int | None, dtype: Any = None,
                      what: str = "y") -> np.ndarray:
        """Validate a whole array of targets once and return it ready for :meth:`forward`.

        Class labels become ``intp`` (checked to lie in [0, ``n_outputs``)); every other
        target becomes a float array of ``dtype``; binary targets must lie in [0, 1].
        """
        if isinstance(target, (str, bytes)):
            raise LabelError(f"{what} must be an array of targets, got the string {target!r}")
        t = np.asarray(target)
        if self.target_kind == "classes" and t.ndim == 1:
            k = n_outputs if n_outputs is not None else int(t.max(initial=0)) + 1
            return check_labels(t, k, what)
        if t.dtype.kind not in "biuf":
            raise LabelError(f"{what} must be numeric, got dtype {t.dtype}"
                             + (" (class labels need a classification loss)" if t.dtype.kind in "OUS" else ""))
        t = as_float_array(t, what, dtype=dtype)
        if self.target_kind == "binary" and t.size and not ((t >= 0) & (t <= 1)).all():
            bad = t[~((t >= 0) & (t <= 1))][0]
            raise LabelError(f"{what}: {type(self).__name__} targets must lie in [0, 1], got {bad:g}")
        return t

    def count_correct(self, output: Array, target: np.ndarray) -> float | None:
        """How many samples of a batch are predicted correctly (None for regression).

        ``"classes"``: the largest output is the label (or the most probable class of a
        probability target). ``"binary"``: each output above :attr:`decision_threshold`
        against each target above 0.5, averaged over the outputs of a sample.
        """
        xp = self._xp
        if xp is np and self.target_kind == "classes" and target.ndim == 1:   # the engine's case, cheaply
            return float(np.count_nonzero(output.argmax(axis=1) == target))
        if self.backend is not _backend.NUMPY and self._host(target):
            target = self.backend.asarray(np.asarray(target))
        if self.target_kind == "classes":
            if target.ndim == 1:
                return self._value(xp.count_nonzero(xp.argmax(output, axis=1) == target))
            return self._value(xp.count_nonzero(xp.argmax(output, axis=1) == xp.argmax(target, axis=1)))
        if self.target_kind == "binary":
            t = xp.reshape(target, output.shape)
            hits = xp.count_nonzero((output > self.decision_threshold) == (t > 0.5))
            return self._value(hits) / output.shape[1]
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.config().items())})"


class EuclideanLoss(Loss):
    """Sum-of-squares: ``E^(n) = 1/2 ||y_n - t_n||^2``; ``dE^(n)/dy_n = y_n - t_n``.

    The negative log-likelihood of a Gaussian with fixed variance around the output, up to
    constants. ``reduction="mean"`` gives (1/N) sum_n 1/2 ||y_n - t_n||^2.

    Examples
    --------
    >>> import numpy as np
    >>> loss = EuclideanLoss()
    >>> loss.forward(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]]))
    2.5
    >>> loss.backward()
    array([[1., 2.]])
    """

    def forward(self, output: Array, target: Any, sample_weight: Array | None = None) -> float:
        y = self._check_output(output)
        diff = y - self._dense_target(y, target)
        scale = self._row_scale(y, sample_weight)
        self._grad = diff * scale
        if sample_weight is None:
            if self._xp is np:
                return float(0.5 * scale * np.vdot(diff, diff))
            return self._value(0.5 * scale * self._xp.sum(diff * diff))
        return self._value(0.5 * self._xp.sum(scale * diff * diff))


class SoftmaxCrossEntropy(Loss):
    """Softmax and cross-entropy fused, from logits ``z``.

    ``p = softmax(z)``; ``E^(n) = -sum_k t_nk log p_nk = logsumexp(z_n) - sum_k t_nk z_nk``
    (with ``sum_k t_nk = 1``); ``dE^(n)/dz_n = p_n - t_n``.

    ``target`` is either integer class labels of shape (N,) in [0, K) or a probability
    matrix (N, K) (one-hot or soft labels). The log-sum-exp subtracts the row max.

    Label smoothing (Szegedy et al. 2016) with ``label_smoothing = eps`` in [0, 1] trains on
    the target ``t' = (1 - eps) t + eps / K`` instead of ``t`` (labels as one-hot rows):
    ``E^(n) = (1 - eps) E_t^(n) + (eps / K) sum_k (logsumexp(z_n) - z_nk)`` and
    ``dE^(n)/dz_n = p_n - t'_n``, as ``torch.nn.CrossEntropyLoss(label_smoothing=eps)``.

    Examples
    --------
    >>> import numpy as np
    >>> loss = SoftmaxCrossEntropy()
    >>> loss.forward(np.zeros((2, 4)), np.array([0, 3]))   # uniform over 4 classes: log 4
    1.386294...
    >>> smooth = SoftmaxCrossEntropy(label_smoothing=0.2)
    >>> _ = smooth.forward(np.zeros((1, 2)), np.array([0]))
    >>> smooth.backward()                                  # p - t' = [0.5, 0.5] - [0.9, 0.1]
    array([[-0.4,  0.4]])
    """

    target_kind = "classes"

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.label_smoothing = check_number("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "label_smoothing": self.label_smoothing}

    def _smoothed(self, z: np.ndarray, target: Any) -> np.ndarray:
        """The smoothed target ``(1 - eps) t + eps / K`` as a dense (N, K) array."""
        dense = self._one_hot_target(z, target)
        k = z.shape[1]
        eps = self.label_smoothing
        xp = self._xp
        return dense * xp.asarray(1.0 - eps, dtype=z.dtype) + xp.asarray(eps / k, dtype=z.dtype)

    def forward(self, output: Array, target: Any, sample_weight: Array | None = None) -> float:
        z = self._check_output(output)
        n, k = z.shape
        t = target if type(target) is np.ndarray else self._target(target)
        if self.label_smoothing:         # the smoothed target is dense: the probability-target branch
            t = self._smoothed(z, t)
        scale = self._row_scale(z, sample_weight)
        if not isinstance(t, (str, bytes)) and t.ndim == 1:
            t = self._labels(t, k, n)
        else:
            host = self._host(t)
            t = self._dense_target(z, t)
            if host and not self.backend.deferred and bool(self._xp.any(t < 0)):
                raise LabelError("SoftmaxCrossEntropy probability targets must be >= 0, "
                                 f"got {self.backend.item(self._xp.min(t)):g}")
        loss, self._grad = self.backend.softmax_cross_entropy(z, t, scale, self._rows(n))
        return loss if type(loss) is float else self._value(loss)

    def _rows(self, n: int) -> np.ndarray:
        """``arange(n)``, kept between calls (the batch size rarely changes)."""
        rows = getattr(self, "_row_index", None)
        if rows is None or rows.shape[0] != n:
            rows = self._row_index = self._xp.arange(n)
        return rows


def _valid_labels(t: np.ndarray, k: int) -> bool:
    """Whether ``t`` is already ``intp`` labels in [0, k), checked with one reduction: viewed
    as unsigned, a negative label becomes huge. False sends ``t`` to ``check_labels``, which
    converts it or names what is wrong."""
    return t.dtype == np.intp and t.size > 0 and int(t.view(np.uintp).max()) < k


class CrossEntropy(Loss):
    """Cross-entropy on probabilities (after a :class:`ffnn.layers.Softmax` layer).

    ``E^(n) = -sum_k t_nk log y_nk``; ``dE^(n)/dy_nk = -t_nk / y_nk``. ``y`` is clipped below
    at the smallest positive normal number of its dtype, so ``log`` and the division stay
    finite when a probability underflows to 0. ``target``: labels (N,) or probabilities (N, K).
    """

    target_kind = "classes"

    def forward(self, output: Array, target: Any) -> float:
        y = self._check_output(output)
        n = y.shape[0]
        t = self._one_hot_target(y, target)
        xp = self._xp
        y_safe = xp.maximum(y, float(np.finfo(self.backend.numpy_dtype(y.dtype)).tiny))
        scale = self._scale(n)
        self._grad = -t / y_safe * scale
        return self._value(-xp.sum(t * xp.log(y_safe)) * scale)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy for independent Bernoulli outputs.

    ``E^(n) = -sum_k [t_k log p_k + (1 - t_k) log(1 - p_k)]`` with targets in [0, 1].

    - ``from_logits=True`` (default): the output is ``z`` and ``p = sigmoid(z)``;
      ``E = sum_k softplus(z_k) - t_k z_k`` (stable), ``dE/dz = p - t``.
    - ``from_logits=False``: the output is ``p`` (after a Sigmoid layer);
      ``dE/dp = (p - t) / (p (1 - p))``; ``p`` is clipped to [tiny, 1 - eps] for the logs.

    A target of shape (N,) is accepted for a single output. A prediction counts as 1 when
    the output is above 0 (logits) or 0.5 (probabilities).
    """

    target_kind = "binary"

    def __init__(self, from_logits: bool = True, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.from_logits = bool(from_logits)

    @property
    def decision_threshold(self) -> float:
        return 0.0 if self.from_logits else 0.5

    def _binary_target(self, y: Any, target: Any, labels_only: bool = False) -> Any:
        """The targets as an array of ``y``'s shape, checked (host targets) to lie in [0, 1]
        and, with ``labels_only``, to be 0 or 1."""
        host = self._host(target)
        t = self._dense_target(y, target)
        if host:
            check = t if self.backend is _backend.NUMPY else self.backend.to_numpy(t)
            inside = (check >= 0) & (check <= 1)
            if not inside.all():
                raise LabelError(f"{type(self).__name__} targets must lie in [0, 1], got {check[~inside][0]:g}")
            if labels_only and not ((check == 0) | (check == 1)).all():
                raise LabelError(f"{type(self).__name__} targets must be 0 or 1, got "
                                 f"{check[(check != 0) & (check != 1)][0]:g}")
        return t

    def _clipped(self, y: Any) -> Any:
        """Probabilities clipped to [tiny, 1 - epsneg] of their dtype, for the logs."""
        info = np.finfo(self.backend.numpy_dtype(y.dtype))
        return self._xp.clip(y, float(info.tiny), 1.0 - float(info.epsneg))

    def forward(self, output: Array, target: Any, sample_weight: Array | None = None) -> float:
        y = self._check_output(output)
        t = self._binary_target(y, target)
        scale = self._row_scale(y, sample_weight)
        xp = self._xp
        if self.from_logits:
            loss = xp.sum(scale * (softplus(y, xp=xp) - t * y))
            self._grad = (sigmoid(y, xp=xp) - t) * scale
        else:
            p = self._clipped(y)
            loss = -xp.sum(scale * (t * xp.log(p) + (1.0 - t) * xp.log1p(-p)))
            self._grad = (p - t) / (p * (1.0 - p)) * scale
        return self._value(loss)

    def config(self) -> dict[str, Any]:
        return {"from_logits": self.from_logits, "reduction": self.reduction}


class RobustBinaryCrossEntropy(BinaryCrossEntropy):
    """Binary cross-entropy when each training label is flipped with probability epsilon.

    If the observed label ``t`` equals the true one with probability ``1 - eps``, the
    likelihood of ``t`` under the model's ``p = P(true label = 1)`` is
    ``q = (1-eps) p^t (1-p)^(1-t) + eps p^(1-t) (1-p)^t``; for t in {0, 1} that is
    ``q = eps + (1 - 2 eps) s`` with ``s = p`` if t = 1 else ``1 - p`` (the probability of
    the observed label), and ``E^(n) = -sum_k log q_k``. At eps = 0 it is binary
    cross-entropy. Because ``q >= eps``, one confidently contradicted label costs at most
    ``-log eps`` instead of growing without bound: flipped labels cannot dominate training.

    Derivatives (``sigma = 2t - 1``): from logits ``z`` (``s = sigmoid(sigma z)``)
    ``dE/dz = -sigma (1 - 2 eps) s (1 - s) / q``; from probabilities
    ``dE/dp = -sigma (1 - 2 eps) / q``.

    Parameters
    ----------
    epsilon : float
        Label-flip probability, 0 <= epsilon < 0.5.
    from_logits : bool
    reduction : "mean" or "sum"
    """

    def __init__(self, epsilon: float = 0.1, from_logits: bool = True, reduction: str = "mean") -> None:
        super().__init__(from_logits, reduction)
        self.epsilon = check_number("epsilon", epsilon, low=0.0, high=0.5, high_inclusive=False)

    def forward(self, output: Array, target: Any, sample_weight: Array | None = None) -> float:
        y = self._check_output(output)
        t = self._binary_target(y, target, labels_only=True)
        xp = self._xp
        eps = self.epsilon
        sign = 2.0 * t - 1.0
        scale = self._row_scale(y, sample_weight)
        if self.from_logits:
            z = sign * y                       # logit of the observed label
            log_s = log_sigmoid(z, xp=xp)
            # log q = log(eps + (1 - 2 eps) s) = log((1 - eps) + eps e^{-z}) + log s
            if eps == 0.0:
                log_q = log_s
                s_over_q = xp.ones_like(y)
            else:
                log_q = xp.logaddexp(float(np.log1p(-eps)), float(np.log(eps)) - z) + log_s
                s_over_q = xp.exp(log_s - log_q)
            s = sigmoid(z, xp=xp)
            self._grad = -sign * (1.0 - 2.0 * eps) * (1.0 - s) * s_over_q * scale
        else:
            p = self._clipped(y)
            s = xp.where(t == 1, p, 1.0 - p)
            q = eps + (1.0 - 2.0 * eps) * s
            log_q = xp.log(q)
            self._grad = -sign * (1.0 - 2.0 * eps) / q * scale
        self._grad = xp.astype(self._grad, y.dtype, copy=False)
        return self._value(-xp.sum(scale * log_q))

    def config(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "from_logits": self.from_logits, "reduction": self.reduction}


def __getattr__(name: str) -> Any:
    # LOSSES (loss classes by class name) moved to the catalogue as LOSS_CLASSES; kept here too.
    if name == "LOSSES":
        from .catalog import LOSS_CLASSES
        return LOSS_CLASSES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
