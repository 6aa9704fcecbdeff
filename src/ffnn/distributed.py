"""Data-parallel training over MPI: every rank takes a share of each batch, one Allreduce per step.

With K processes (``mpirun -n K ffnn train --distributed``, or ``Trainer(distributed=True)``
in a script started by ``mpirun``), every rank holds the whole model and the whole training
set and draws the same shuffled order (the same seed). Each step, the global batch of B
indices is split into K contiguous shares of ``n_k`` (``sum n_k = B``); rank k computes the
gradient ``g_k`` of the loss over its share (the mean over its ``n_k`` samples), and one
Allreduce over one flat, preallocated buffer sums ``n_k g_k`` (and ``n_k E_k``, ``n_k``, the
correct predictions) over the ranks::

    g = (1/B) sum_k n_k g_k = (1/B) sum_k sum_{n in share k} grad E_n

which is the gradient one process computes on the whole batch: unequal shares (B not a
multiple of K, the last batch of an epoch) are weighted exactly, and K ranks end with the
same weights as one process, up to floating-point rounding (the sums are grouped
differently). Every rank then applies the same update, so the weights never drift apart;
the loss and accuracy of each step are the global ones, so rank 0 prints the figures of the
whole batch. A loss with ``reduction="sum"`` adds the shares' sums instead.

At the start of training rank 0's weights are broadcast (:meth:`MPIDataParallel.broadcast_parameters`),
only rank 0 prints progress, writes checkpoints and the run directory, and every rank reads
a checkpoint to resume. Ctrl-C in the terminal reaches ``mpirun``, which ends every rank:
the run is then continued from rank 0's last checkpoint (``mpirun -n K ffnn train
--distributed --resume RUN_DIR``, with the same K), to the weights of an uninterrupted run.
``mpi4py`` is imported when an :class:`MPIDataParallel` is made, never by ``import ffnn``.
Dropout masks are drawn by each rank from identical generators (no
exactness is claimed with dropout).
"""

from __future__ import annotations

import atexit
import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from .errors import ConfigError, FfnnError
from .parameter import Parameter

__all__ = ["DataParallel", "MPIDataParallel", "data_parallel", "root_only", "end_job_at_exit"]

T = TypeVar("T")


@runtime_checkable
class DataParallel(Protocol):
    """What the engine needs from a data-parallel backend (:class:`MPIDataParallel`, or a user's)."""

    rank: int
    size: int

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This rank's share of a global batch's indices."""
        ...

    def broadcast_parameters(self, params: Sequence[Parameter]) -> None:
        """Overwrite every rank's parameter values with rank 0's."""
        ...

    def allreduce_gradients(self, params: Sequence[Parameter], loss: float, correct: float | None,
                            n: int, reduction: str) -> tuple[float, float | None]:
        """Combine the ranks' gradients in place; return the global loss and correct count."""
        ...

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (any picklable object)."""
        ...


class MPIDataParallel:
    """Data parallelism over an MPI communicator (default: ``MPI.COMM_WORLD``) with mpi4py.

    Examples
    --------
    Started with ``mpirun -n 2 python script.py``::

        from ffnn.distributed import MPIDataParallel
        history = ffnn.fit(net, loss, opt, X, y, batch_size=128, seed=0, distributed=MPIDataParallel())
    """

    def __init__(self, comm: Any = None) -> None:
        try:
            from mpi4py import MPI
        except ImportError:
            raise ConfigError("distributed training needs mpi4py and an MPI library: pip install 'ffnn[mpi]' "
                              "(on Debian: apt install openmpi-bin libopenmpi-dev first)") from None
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self._buffer: np.ndarray | None = None
        self._layout: list[tuple[int, int]] = []

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """Contiguous shares, the first ``len % size`` ranks one index longer (some may be empty)."""
        base, extra = divmod(len(indices), self.size)
        start = self.rank * base + min(self.rank, extra)
        return indices[start:start + base + (self.rank < extra)]

    def broadcast_parameters(self, params: Sequence[Parameter]) -> None:
        """Overwrite every rank's parameter values with rank 0's: one Bcast of the flat buffer."""
        buffer = self._flat(params)
        if self.rank == 0:
            for p, (a, b) in zip(params, self._layout, strict=True):
                buffer[a:b].reshape(p.shape)[...] = p.value
        self.comm.Bcast(buffer[:-3], root=0)
        for p, (a, b) in zip(params, self._layout, strict=True):
            p.value[...] = buffer[a:b].reshape(p.shape)

    def allreduce_gradients(self, params: Sequence[Parameter], loss: float, correct: float | None,
                            n: int, reduction: str) -> tuple[float, float | None]:
        """Sum ``n_k g_k`` (mean reduction; ``g_k`` for sum), ``n_k E_k``, ``n_k`` and the
        correct count over the ranks in one Allreduce; divide by the global ``B`` (mean)."""
        buffer = self._flat(params)
        scale = float(n) if reduction == "mean" else 1.0
        if n == 0:                      # an empty share: nothing to add (its gradients are stale)
            buffer[:] = 0
        else:
            for p, (a, b) in zip(params, self._layout, strict=True):
                np.multiply(p.grad, scale, out=buffer[a:b].reshape(p.shape))
            buffer[-3:] = (scale * loss, n, correct or 0.0)
        self.comm.Allreduce(self._MPI.IN_PLACE, buffer, op=self._MPI.SUM)
        total_loss, total_n, total_correct = (float(v) for v in buffer[-3:])
        divide = total_n if reduction == "mean" else 1.0
        if divide != 1.0:
            buffer[:-3] /= divide
        for p, (a, b) in zip(params, self._layout, strict=True):
            p.grad[...] = buffer[a:b].reshape(p.shape)
        return total_loss / divide, (total_correct if correct is not None else None)

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (pickled by mpi4py's ``bcast``)."""
        return self.comm.bcast(value, root=0)

    def abort(self, code: int) -> None:
        """End every rank of the job now (``MPI_Abort``), ``mpirun`` exiting with ``code``."""
        self.comm.Abort(code)

    def _flat(self, params: Sequence[Parameter]) -> np.ndarray:
        """The one preallocated buffer: every parameter, then the loss, the count and the correct."""
        sizes = [p.size for p in params]
        if self._buffer is None or len(self._layout) != len(sizes) or \
                [b - a for a, b in self._layout] != sizes:
            dtype = np.result_type(*(p.grad.dtype for p in params)) if params else np.float64
            ends = np.cumsum([0, *sizes])
            self._layout = [(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:], strict=True)]
            self._buffer = np.zeros(int(ends[-1]) + 3, dtype=dtype)
        return self._buffer

    def __repr__(self) -> str:
        return f"MPIDataParallel(rank={self.rank}, size={self.size})"


def data_parallel(distributed: DataParallel | bool | None) -> DataParallel | None:
    """The engine's ``distributed=`` argument as a backend: None/False for none, True for
    :class:`MPIDataParallel` over ``COMM_WORLD``, or an object with the :class:`DataParallel` methods."""
    if distributed is None or distributed is False:
        return None
    if distributed is True:
        return MPIDataParallel()
    if not isinstance(distributed, DataParallel):
        raise ConfigError("distributed must be True, None or a data-parallel backend with rank, size, shard, "
                          f"broadcast_parameters, allreduce_gradients and broadcast; got {type(distributed).__name__}")
    return distributed


def end_job_at_exit(distributed: DataParallel | None, error: BaseException) -> None:
    """After ``error`` ended training on this rank, end the whole job when this process exits.

    A rank that stops training alone (Ctrl-C delivered to it, a failed checkpoint write)
    leaves the others waiting forever in the next Allreduce, and ``MPI_Finalize`` at its own
    exit waits for them: the job would hang. So at exit (after the run is saved and the error
    printed) the backend's ``abort(code)`` ends every rank, with the exit status ``ffnn``
    gives the error: 130 for Ctrl-C, 2 for an error a user can cause, 1 otherwise. The state
    is kept, and the run continues with ``--resume`` from rank 0's last checkpoint. Nothing is
    done for a backend without ``abort``, nor for :class:`~ffnn.TrainingDivergedError`, which
    every rank raises at the same step (the loss is the global one).
    """
    from .errors import TrainingDivergedError
    abort = getattr(distributed, "abort", None)
    if abort is None or isinstance(error, TrainingDivergedError):
        return
    code = 130 if isinstance(error, KeyboardInterrupt) else 2 if isinstance(error, (FfnnError, OSError, MemoryError)) \
        else 1

    def end() -> None:
        for stream in (sys.stdout, sys.stderr):     # MPI_Abort does not flush what is buffered
            with contextlib.suppress(Exception):
                stream.flush()
        abort(code)

    atexit.register(end)


def root_only(distributed: DataParallel | None, work: Callable[[], T]) -> T:
    """Run ``work`` on rank 0 only and give every rank its result; an error a user can cause
    (:class:`~ffnn.FfnnError`, :class:`OSError`) on rank 0 is raised on every rank, so all exit alike."""
    if distributed is None:
        return work()
    outcome: tuple[bool, Any] = (True, None)
    if distributed.rank == 0:
        try:
            outcome = (True, work())
        except (FfnnError, OSError) as exc:
            outcome = (False, exc)
            distributed.broadcast(outcome)
            raise
    ok, value = distributed.broadcast(outcome)
    if not ok:
        raise value
    return value
