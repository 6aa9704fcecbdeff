"""The :class:`Backend` protocol: a namespace to compute with, and the moves to and from the host."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

__all__ = ["Backend"]


class Backend(ABC):
    """Where a model's arrays live and the namespace that computes on them.

    Attributes
    ----------
    name : str
        The spec that names it (``"numpy"``, ``"torch:cpu"``, ``"torch:cuda:0"``, ...).
    xp : namespace
        NumPy's names and signatures, ``out=`` included (``xp.matmul(a, b, out=buf)``,
        ``xp.add.reduce(g, axis=0, out=gb)``, ``xp.maximum(x, 0.0, out=y)``, ``xp.where``,
        ``xp.sum(..., axis=, keepdims=)``, ``xp.take(X, idx, axis=0, out=, mode="clip")``,
        ``xp.empty(shape, dtype=)``, ``xp.astype``...): layers, losses and optimizers
        compute only through it. For NumPy it is the ``numpy`` module itself.
    array_type : type
        The type of the backend's arrays (a cheap check on the hot path).
    deferred : bool
        True where reading a number back to Python waits for the device (a GPU): the engine
        then keeps the loss and the correct count on the device and reads them once per
        epoch, and does not test each batch's loss for NaN (the divergence guard checks the
        epoch's).
    """

    name: str
    xp: Any
    array_type: Any
    deferred: bool = False

    # -- dtypes -------------------------------------------------------------------
    def dtype(self, dtype: Any) -> Any:
        """The backend's dtype object for a NumPy dtype (``np.float32`` -> ``torch.float32``)."""
        return np.dtype(dtype)

    def numpy_dtype(self, dtype: Any) -> np.dtype:
        """The NumPy dtype of a backend dtype (the inverse of :meth:`dtype`)."""
        return np.dtype(dtype)

    # -- moves --------------------------------------------------------------------
    @abstractmethod
    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """A backend array holding ``a`` (a NumPy array or anything NumPy takes); a copy
        unless ``a`` already is one of this backend's arrays of that dtype."""

    def from_host(self, a: np.ndarray) -> Any:
        """A host NumPy array (made for this purpose, not kept by the caller) on the backend:
        NumPy takes it as is, other backends copy it."""
        return self.asarray(a)

    @abstractmethod
    def to_numpy(self, a: Any) -> np.ndarray:
        """``a`` as a NumPy array on the host (a copy for device arrays)."""

    def stage(self, batch: np.ndarray) -> Any:
        """A host batch on the backend, for one training step (the engine's per-batch copy when
        the data stay on the host). The result may be reused by the next call."""
        return self.asarray(batch)

    def empty(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """A new uninitialised array (a NumPy dtype or the backend's), for buffers and state."""
        return self.xp.empty(tuple(shape), dtype=self.dtype(dtype))

    def zeros(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """A new array of zeros (a NumPy dtype or the backend's)."""
        return self.xp.zeros(tuple(shape), dtype=self.dtype(dtype))

    def owns(self, a: Any) -> bool:
        """Whether ``a`` (of :attr:`array_type`) lives where this backend computes."""
        return True

    def copy(self, a: Any) -> Any:
        """A new array equal to ``a``."""
        out = self.xp.empty(a.shape, dtype=a.dtype)
        self.xp.copyto(out, a)
        return out

    def copy_into(self, dst: Any, src: Any) -> None:
        """Write ``src`` (a backend or NumPy array, cast to ``dst``'s dtype) into ``dst``."""
        if type(src) is not self.array_type:
            src = self.asarray(np.asarray(src), dtype=self.numpy_dtype(dst.dtype))
        self.xp.copyto(dst, src)

    def item(self, a: Any) -> float:
        """One number read back to Python (waits for the device)."""
        return float(self.to_numpy(a))

    def all_finite(self, a: Any) -> bool:
        """Whether every element of ``a`` is finite (read back: waits for the device)."""
        return bool(self.to_numpy(self.xp.all(self.xp.isfinite(a))))

    # -- kernels -------------------------------------------------------------------------
    def one_hot(self, labels: Any, k: int, dtype: Any) -> Any:
        """Rows (N, k) of ``dtype`` (the backend's), 1 in the column of each checked label (N,)."""
        xp = self.xp
        return xp.astype(labels[:, None] == xp.arange(k)[None, :], dtype)

    def softmax_cross_entropy(self, z: Any, target: Any, scale: Any, rows: Any) -> tuple[Any, Any]:
        """Softmax and cross-entropy fused, on logits ``z`` (N, K): ``(E, dE/dz)``.

        With ``p = softmax(z)`` (the row maximum subtracted first), targets ``t`` (class
        labels (N,), checked, or probabilities (N, K)) and the per-sample factor ``s`` (a
        number, ``1/N`` or 1, or a column (N, 1) of sample weights):
        ``E = sum_n s_n (logsumexp(z_n) - sum_k t_nk z_nk)`` and ``dE/dz = s (p - t)``.
        ``rows`` is ``arange(N)`` on this backend. The loss is a 0-d array here (a float on
        NumPy); :class:`ffnn.losses.SoftmaxCrossEntropy` validates the targets and calls this.
        """
        xp = self.xp
        shifted = z - xp.max(z, axis=1, keepdims=True)
        p = xp.exp(shifted)
        sums = xp.sum(p, axis=1, keepdims=True)
        p /= sums
        log_norm = xp.log(sums)
        if target.ndim == 1:
            picked = shifted[rows, target]
            if isinstance(scale, float):
                loss = (xp.sum(log_norm) - xp.sum(picked)) * scale
            else:
                loss = xp.sum(scale[:, 0] * (log_norm[:, 0] - picked))
            p -= self.one_hot(target, z.shape[1], p.dtype)
        else:
            loss = xp.sum(scale * target * (log_norm - shifted))
            p -= target
        p *= scale
        return loss, p

    def synchronize(self) -> None:
        """Wait until the device has finished the work queued so far (timings); the host's
        work is finished when its call returns."""
        return None

    def __repr__(self) -> str:
        return f"<ffnn backend {self.name}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # pickles and deep copies share the one backend object per name
        from . import get
        return (get, (self.name,))
