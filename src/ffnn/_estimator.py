"""The one base class of ffnn's scikit-learn style estimators, with or without scikit-learn.

Every estimator of :mod:`ffnn.estimators` and :mod:`ffnn.linear_models` derives from
:class:`Estimator`, and a classifier or regressor also from :class:`ClassifierMixin` or
:class:`RegressorMixin` (placed to the left of the base, as scikit-learn asks).

- With scikit-learn installed, :class:`Estimator` subclasses ``sklearn.base.BaseEstimator``
  and the mixins are scikit-learn's own, so the estimators work with ``clone``, pipelines,
  ``cross_val_score`` and ``GridSearchCV``, and ``is_classifier`` recognises them.
- Without it, a local fallback gives the same protocol: the parameters are the arguments of
  the constructor (stored unchanged as attributes of the same name), ``get_params`` returns
  them, ``set_params`` sets them, the repr shows those that differ from their defaults, and
  the mixins' ``score`` is the accuracy or the coefficient of determination ``R^2``.

Either way ``set_params`` with a name the constructor does not take raises
:class:`~ffnn.ConfigError` (a ``ValueError``, as scikit-learn's own error is) naming the
valid parameters, and a class that sets ``_repr_all_params = True`` (the linear models) is
shown with every constructor argument, in the constructor's order.

>>> class Toy(Estimator):
...     def __init__(self, a=1, b="x"):
...         self.a = a
...         self.b = b
>>> toy = Toy(a=2)
>>> toy.get_params() == {"a": 2, "b": "x"}
True
>>> toy.set_params(b="y").b
'y'
>>> toy.set_params(c=3)
Traceback (most recent call last):
...
ffnn.errors.ConfigError: invalid parameter 'c' for Toy; valid parameters: a, b
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .errors import ConfigError, FfnnError

__all__ = ["Estimator", "ClassifierMixin", "RegressorMixin", "TransformerMixin", "HAVE_SKLEARN", "NotFittedError",
           "check_fitted", "validate_data", "require_sklearn"]


def _r2_score(y_true: Any, y_pred: Any) -> float:
    """``1 - sum (t - y)^2 / sum (t - mean t)^2`` over every output (0 when ``t`` is constant)."""
    t = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y = np.asarray(y_pred, dtype=np.float64).reshape(len(t), -1)
    ss_res = float(((t - y) ** 2).sum())
    ss_tot = float(((t - t.mean(axis=0)) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0


class _FallbackBase:
    """``get_params``/``set_params``/``repr`` as scikit-learn defines them, for use without it."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (scikit-learn's order)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        params = [p for p in inspect.signature(init).parameters.values()
                  if p.name != "self" and p.kind != p.VAR_KEYWORD]
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            raise ConfigError(f"{cls.__name__}: an estimator's constructor takes no *args; "
                              "name every parameter in its signature")
        return sorted(p.name for p in params)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments by name (with ``deep``, also those of nested estimators
        as ``name__parameter``)."""
        out: dict[str, Any] = {}
        for name in self._get_param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Any:
        """Set constructor arguments (``name__parameter`` sets one of a nested estimator)."""
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, delim, sub = key.partition("__")
            if delim:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
        for name, sub_params in nested.items():
            getattr(self, name).set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = {k: v for k, v in self.get_params(deep=False).items() if not _same(v, defaults.get(k))}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def _same(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        return type(value) is type(default) and bool(np.array_equal(value, default))
    except Exception:  # a value that cannot be compared with its default is shown
        return False


class _FallbackClassifierMixin:
    """``score`` = accuracy, as ``sklearn.base.ClassifierMixin``."""

    _estimator_type = "classifier"

    def score(self, X: Any, y: Any) -> float:
        """The fraction of samples whose predicted label equals ``y``."""
        return float(np.mean(self.predict(X) == np.asarray(y)))  # type: ignore[attr-defined]


class _FallbackTransformerMixin:
    """``fit_transform``, as ``sklearn.base.TransformerMixin``."""

    def fit_transform(self, X: Any, y: Any = None) -> Any:
        """``fit(X, y).transform(X)``."""
        return self.fit(X, y).transform(X)  # type: ignore[attr-defined]


class _FallbackRegressorMixin:
    """``score`` = coefficient of determination ``R^2``, as ``sklearn.base.RegressorMixin``."""

    _estimator_type = "regressor"

    def score(self, X: Any, y: Any) -> float:
        """``R^2 = 1 - sum (t - y)^2 / sum (t - mean t)^2`` (0 when ``y`` is constant)."""
        return _r2_score(y, self.predict(X))  # type: ignore[attr-defined]


if TYPE_CHECKING:
    _Base = _FallbackBase
    ClassifierMixin = _FallbackClassifierMixin
    RegressorMixin = _FallbackRegressorMixin
    TransformerMixin = _FallbackTransformerMixin
    HAVE_SKLEARN: bool
else:
    try:  # scikit-learn is optional: subclass its bases when it is there
        from sklearn.base import BaseEstimator as _Base
        from sklearn.base import ClassifierMixin, RegressorMixin, TransformerMixin
        HAVE_SKLEARN = True
    except ImportError:
        _Base = _FallbackBase
        ClassifierMixin = _FallbackClassifierMixin
        RegressorMixin = _FallbackRegressorMixin
        TransformerMixin = _FallbackTransformerMixin
        HAVE_SKLEARN = False


if TYPE_CHECKING:
    _NotFittedBase: type = ValueError
else:
    try:
        from sklearn.exceptions import NotFittedError as _NotFittedBase
    except ImportError:
        class _NotFittedBase(ValueError, AttributeError):
            pass


class NotFittedError(FfnnError, _NotFittedBase):
    """``predict``/``score``/``transform`` called before ``fit`` (scikit-learn's
    ``NotFittedError`` when it is installed: a ``ValueError`` and an ``AttributeError``)."""


def check_fitted(estimator: Any) -> None:
    """Raise :class:`NotFittedError` unless ``estimator`` has a fitted attribute (a name ending
    in ``_``): scikit-learn's ``check_is_fitted`` when it is installed."""
    name = type(estimator).__name__
    message = f"This {name} instance is not fitted yet. Call 'fit' with appropriate arguments before using it."
    if HAVE_SKLEARN:
        from sklearn.exceptions import NotFittedError as SklearnNotFitted
        from sklearn.utils.validation import check_is_fitted
        try:
            check_is_fitted(estimator)
        except SklearnNotFitted:
            raise NotFittedError(message) from None
    elif not any(k.endswith("_") and not k.startswith("__") for k in vars(estimator)):
        raise NotFittedError(message)


def validate_data(estimator: Any, X: Any, y: Any = "no_validation", *, reset: bool = True, **options: Any) -> Any:
    """Check ``X`` (and ``y`` when given) with scikit-learn's ``validate_data``: 2-D finite
    numeric ``X``, consistent lengths, ``n_features_in_`` (and ``feature_names_in_``)
    recorded when ``reset``, else checked. ``y="no_validation"`` (the default) checks ``X``
    only; ``y=None`` is an error for a model that needs targets. ``options`` go to
    scikit-learn (``dtype``, ``y_numeric``, ``multi_output``...). Without scikit-learn, a
    float64 ``X`` checked by :func:`ffnn._validation.as_float_array` and its feature count."""
    if HAVE_SKLEARN:
        from sklearn.utils.validation import validate_data as sklearn_validate
        return sklearn_validate(estimator, X, y, reset=reset, **{"dtype": np.float64, **options})
    from ._validation import as_float_array
    from .errors import ShapeError
    X = as_float_array(X, "X", dtype=np.float64, ndim=2)
    if len(X) == 0:
        raise ShapeError(f"{type(estimator).__name__} got an empty X (0 samples)")
    if reset:
        estimator.n_features_in_ = X.shape[1]
    elif X.shape[1] != estimator.n_features_in_:
        raise ShapeError(f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
                         f"{estimator.n_features_in_} features as input")
    if isinstance(y, str) and y == "no_validation":
        return X
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if len(y) != len(X):
        raise ShapeError(f"X and y must have the same number of samples, got {len(X)} and {len(y)}")
    return X, y


def require_sklearn(owner: str) -> None:
    """Raise an ImportError naming the extra to install when scikit-learn is missing."""
    if not HAVE_SKLEARN:
        raise ImportError(f"{owner} needs scikit-learn (it validates input and splits data with it); "
                          "install it with: pip install 'ffnn[sklearn]'")


class Estimator(_Base):
    """Base of every ffnn estimator: constructor arguments are its parameters.

    Subclasses store each constructor argument as an attribute of the same name. Set
    ``_repr_all_params = True`` to show every argument in the repr, in constructor order
    (default: scikit-learn's repr, the arguments that differ from their defaults).
    """

    _repr_all_params: ClassVar[bool] = False

    @classmethod
    def _param_names_in_order(cls) -> list[str]:
        """The constructor's parameter names in the order of its signature."""
        sorted_names = set(cls._get_param_names())
        return [name for name in inspect.signature(cls.__init__).parameters if name in sorted_names]

    def set_params(self, **params: Any) -> Any:
        """Set constructor arguments; an unknown name raises :class:`~ffnn.ConfigError`.

        Returns the estimator (scikit-learn's protocol), so calls chain.
        """
        valid = self._get_param_names()
        for key in params:
            if key.partition("__")[0] not in valid:
                raise ConfigError(f"invalid parameter {key!r} for {type(self).__name__}; "
                                  f"valid parameters: {', '.join(valid)}")
        return super().set_params(**params)

    def __repr__(self, *args: Any, **kwargs: Any) -> str:
        if self._repr_all_params:
            shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._param_names_in_order())
            return f"{type(self).__name__}({shown})"
        return super().__repr__(*args, **kwargs)
