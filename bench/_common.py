"""Shared pieces of the ffnn benchmarks: machine info, thread pinning, nets, trainers.

Every "trainer" here exposes ``epoch(perm)``: the training steps of one pass over the
samples in the order ``perm`` (full batches only), and nothing else: no evaluation, no
model construction, no data conversion. The permutation is drawn outside the timed region.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
try:  # run from a checkout without installing: use the src/ layout directly
    import ffnn  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(REPO / "src"))
    import ffnn  # noqa: F401

from ffnn import layers  # noqa: E402
from ffnn.data import BatchGatherer  # noqa: E402

N_FEATURES, N_CLASSES = 784, 10
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "GOMP_SPINCOUNT",
              "OMP_WAIT_POLICY")


# --------------------------------------------------------------------------- nets
@dataclass(frozen=True)
class Net:
    name: str
    sizes: tuple[int, ...]          # (784, hidden..., 10)
    activation: str                 # "relu" or "sigmoid"
    batches: tuple[int, ...] = field(default=(128,))

    @property
    def label(self) -> str:
        return f"{self.name} {'-'.join(map(str, self.sizes))} {self.activation}"

    def layer_shapes(self) -> list[tuple[int, int]]:
        return list(zip(self.sizes[:-1], self.sizes[1:]))

    def flops_per_sample(self) -> dict[str, int]:
        """Forward 2*in*out per layer; backward 2*in*out (dW) + 2*in*out (dX, not layer 0)."""
        fwd = sum(2 * i * o for i, o in self.layer_shapes())
        dw = fwd
        dx = sum(2 * i * o for k, (i, o) in enumerate(self.layer_shapes()) if k > 0)
        return {"forward": fwd, "backward": dw + dx, "total": fwd + dw + dx}


BATCHES = (10, 32, 128, 512)
NETS = {
    "A": Net("A", (784, 100, 10), "relu", BATCHES),
    "B": Net("B", (784, 1024, 1024, 10), "relu", BATCHES),
    "C": Net("C", (784, 30, 10), "sigmoid", BATCHES),
}


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped random data: float32 pixels in [0, 1), int64 labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, N_FEATURES), dtype=np.float32)
    y = rng.integers(0, N_CLASSES, n).astype(np.int64)
    return X, y


# --------------------------------------------------------------------------- threads / machine
_LIMITS = None


def pin_threads(n: int, torch_too: bool = True) -> None:
    """Pin every BLAS/OpenMP pool threadpoolctl sees, and PyTorch's intra-op pool, to ``n``."""
    global _LIMITS
    from threadpoolctl import threadpool_limits
    if torch_too:
        try:
            import torch
            torch.set_num_threads(n)
        except ImportError:
            pass
    _LIMITS = threadpool_limits(limits=n)   # kept alive for the whole process


def lscpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    from threadpoolctl import threadpool_info
    info: dict = {
        "cpu": lscpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "ffnn": ffnn.__version__,
        "env": {k: os.environ.get(k) for k in OPENBLAS_ENV + THREAD_ENV if k in os.environ},
    }
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        info["torch"] = None
    try:
        import sklearn
        info["sklearn"] = sklearn.__version__
    except ImportError:
        info["sklearn"] = None
    try:
        import jax
        info["jax"] = jax.__version__
    except ImportError:
        info["jax"] = None
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info["numpy_blas"] = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - informational only
        info["numpy_blas"] = "unknown"
    info["threadpools"] = [
        {k: p.get(k) for k in ("internal_api", "prefix", "version", "num_threads", "architecture",
                               "threading_layer") if p.get(k) is not None}
        for p in threadpool_info()]
    return info


def openblas_arch() -> str:
    from threadpoolctl import threadpool_info
    for p in threadpool_info():
        if p.get("internal_api") == "openblas" and "numpy" in p.get("filepath", ""):
            return str(p.get("architecture"))
    for p in threadpool_info():
        if p.get("internal_api") == "openblas":
            return str(p.get("architecture"))
    return "n/a"


# --------------------------------------------------------------------------- trainers
def build_ffnn(net: Net, seed: int = 0):
    mods = []
    act = {"relu": layers.ReLU, "sigmoid": layers.Sigmoid}[net.activation]
    shapes = net.layer_shapes()
    for k, (i, o) in enumerate(shapes):
        mods.append(layers.Linear(i, o, rng=seed + k, dtype=np.float32))
        if k < len(shapes) - 1:
            mods.append(act())
    return ffnn.Sequential(mods)


class FfnnTrainer:
    """The exact inner loop of ``ffnn.fit`` (minus its bookkeeping), batches from BatchGatherer."""

    name = "ffnn"

    def __init__(self, net: Net, batch: int, X: np.ndarray, y: np.ndarray, seed: int = 0, lr: float = 0.01):
        from ffnn import losses, optim
        self.model = build_ffnn(net, seed)
        self.loss = losses.SoftmaxCrossEntropy()
        self.opt = optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.X, self.y, self.batch = X, y, batch
        self.gather = BatchGatherer(X, batch)

    def epoch(self, perm: np.ndarray) -> None:
        model, loss, opt, gather, y, b = self.model, self.loss, self.opt, self.gather, self.y, self.batch
        for start in range(0, len(perm) - b + 1, b):
            idx = perm[start:start + b]
            xb, yb = gather(idx), y[idx]
            out = model._forward(xb)
            loss.forward(out, yb)
            model._backward(loss.backward(), input_grad=False)
            opt.step()


class TorchTrainer:
    """Eager PyTorch: nn.Sequential, F.cross_entropy, optim.SGD(momentum=0.9), set_to_none."""

    name = "torch"

    def __init__(self, net: Net, batch: int, X: np.ndarray, y: np.ndarray, ffnn_model=None, lr: float = 0.01):
        import torch
        from torch import nn
        self.torch = torch
        act = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}[net.activation]
        mods = []
        shapes = net.layer_shapes()
        for k, (i, o) in enumerate(shapes):
            mods.append(nn.Linear(i, o))
            if k < len(shapes) - 1:
                mods.append(act())
        self.model = nn.Sequential(*mods)
        if ffnn_model is not None:   # same initial weights (ffnn Linear.weight is (out, in) like torch)
            src = [m for m in ffnn_model.layers if isinstance(m, layers.Linear)]
            dst = [m for m in self.model if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for s, d in zip(src, dst):
                    d.weight.copy_(torch.from_numpy(s.weight.value))
                    d.bias.copy_(torch.from_numpy(s.bias.value))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y)
        self.batch = batch

    def epoch(self, perm: np.ndarray) -> None:
        import torch.nn.functional as F
        model, opt, X, y, b = self.model, self.opt, self.X, self.y, self.batch
        perm_t = self.torch.from_numpy(perm)
        for start in range(0, len(perm) - b + 1, b):
            idx = perm_t[start:start + b]
            xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            F.cross_entropy(out, yb).backward()
            opt.step()


def jax_threads_flags(n: int) -> None:
    """Ask XLA's CPU backend for ``n`` intra-op threads (must run before jax is imported).

    XLA has no "N threads" switch: its Eigen pool has one thread per CPU. With ``n`` equal to
    the CPU count that is already ``n``; with ``n == 1`` the multi-threaded Eigen path is
    turned off. Other values are reported by :func:`jax_threads` as they are.
    """
    if n == 1 and "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false"
                                   " intra_op_parallelism_threads=1").strip()


def jax_threads(n: int) -> str:
    """How many threads XLA's CPU backend uses, in words, for the header."""
    if n == 1:
        return "1 (multi-threaded Eigen off)"
    cpus = os.cpu_count() or 0
    return f"{cpus} (one per CPU{'' if cpus == n else f'; cannot pin to {n}'})"


class JaxTrainer:
    """JAX: the whole step (batch gather, forward, ``jax.grad`` of softmax cross-entropy, SGD
    momentum as ``torch.optim.SGD``) compiled as one ``jax.jit`` function with the parameter
    and velocity buffers donated, so XLA fuses every element-wise pass and updates in place.

    The epoch's permutation is copied to the device once; each step slices its batch with
    ``lax.dynamic_slice`` inside the compiled function. Dispatch is asynchronous, so an epoch
    ends by blocking until the last step's parameters are ready.
    """

    name = "jax"

    def __init__(self, net: Net, batch: int, X: np.ndarray, y: np.ndarray, ffnn_model=None,
                 lr: float = 0.01, seed: int = 0):
        import jax
        import jax.numpy as jnp
        self.jax = jax
        model = ffnn_model if ffnn_model is not None else build_ffnn(net, seed)
        lins = [m for m in model.layers if isinstance(m, layers.Linear)]
        params = [(jnp.asarray(m.weight.value), jnp.asarray(m.bias.value)) for m in lins]
        self.params = params
        self.vel = jax.tree_util.tree_map(jnp.zeros_like, params)
        act = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}[net.activation]
        n_layers = len(params)
        momentum = 0.9

        def loss_fn(p, xb, yb):
            h = xb
            for k, (W, b) in enumerate(p):
                h = h @ W.T + b
                if k < n_layers - 1:
                    h = act(h)
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        grad_fn = jax.grad(loss_fn)

        def step(p, v, Xd, yd, perm, start):
            idx = jax.lax.dynamic_slice(perm, (start,), (batch,))
            g = grad_fn(p, jnp.take(Xd, idx, axis=0), jnp.take(yd, idx, axis=0))
            v = jax.tree_util.tree_map(lambda v_, g_: momentum * v_ + g_, v, g)
            p = jax.tree_util.tree_map(lambda p_, v_: p_ - lr * v_, p, v)
            return p, v

        self._step = jax.jit(step, donate_argnums=(0, 1))
        self.X = jnp.asarray(X)
        self.y = jnp.asarray(y.astype(np.int32))
        self.batch = batch

    def epoch(self, perm: np.ndarray) -> None:
        jnp = self.jax.numpy
        b, step, X, y = self.batch, self._step, self.X, self.y
        perm_d = jnp.asarray(perm.astype(np.int32))
        p, v = self.params, self.vel
        for start in range(0, len(perm) - b + 1, b):
            p, v = step(p, v, X, y, perm_d, np.int32(start))
        self.jax.block_until_ready(p)
        self.params, self.vel = p, v

    def weights(self) -> np.ndarray:
        """The first layer's weight matrix, as NumPy (for the agreement check)."""
        return np.asarray(self.params[0][0])


class SklearnTrainer:
    """scikit-learn MLPClassifier, one ``partial_fit`` per epoch (it shuffles internally)."""

    name = "sklearn"

    def __init__(self, net: Net, batch: int, X: np.ndarray, y: np.ndarray, lr: float = 0.01):
        from sklearn.neural_network import MLPClassifier
        self.model = MLPClassifier(hidden_layer_sizes=net.sizes[1:-1],
                                   activation={"relu": "relu", "sigmoid": "logistic"}[net.activation],
                                   solver="sgd", momentum=0.9, nesterovs_momentum=False,
                                   learning_rate_init=lr, batch_size=batch, alpha=0.0, shuffle=True,
                                   random_state=0)
        self.X, self.y = X, y
        self._first = True

    def epoch(self, perm: np.ndarray) -> None:
        if self._first:
            self.model.partial_fit(self.X, self.y, classes=np.arange(N_CLASSES))
            self._first = False
        else:
            self.model.partial_fit(self.X, self.y)


class GemmOnly:
    """The float32 GEMMs of one training step (same shapes and memory layouts as ffnn.Linear):
    forward ``x @ W.T``, backward ``G.T @ x`` (dW) and ``G @ W`` (dX, not for layer 0).
    Its samples/s is the GEMM-bound limit of the net on this machine."""

    name = "gemm"

    def __init__(self, net: Net, batch: int, X: np.ndarray, y: np.ndarray | None = None):
        rng = np.random.default_rng(1)
        self.batch = batch
        self.ops = []
        for k, (i, o) in enumerate(net.layer_shapes()):
            x = X[:batch].copy() if k == 0 else rng.random((batch, i), dtype=np.float32)
            W = (rng.standard_normal((o, i), dtype=np.float32) * 0.05)
            G = rng.standard_normal((batch, o), dtype=np.float32) * 0.01
            out, dW, dx = (np.empty((batch, o), np.float32), np.empty((o, i), np.float32),
                           np.empty((batch, i), np.float32))
            self.ops.append((x, W.T, out))
            self.ops.append((G.T, x, dW))
            if k > 0:
                self.ops.append((G, W, dx))

    def step(self) -> None:
        mm = np.matmul
        for a, b, out in self.ops:
            mm(a, b, out=out)

    def epoch(self, perm: np.ndarray) -> None:
        for _ in range(len(perm) // self.batch):
            self.step()


class TorchGemmOnly(GemmOnly):
    """The same GEMMs through ``torch.mm`` (PyTorch's BLAS, MKL on x86 wheels): how much of a
    PyTorch advantage is just a faster GEMM library."""

    name = "torch_gemm"

    def __init__(self, net: Net, batch: int, X: np.ndarray, y: np.ndarray | None = None):
        import torch
        super().__init__(net, batch, X, y)
        self.ops = [(torch.from_numpy(np.ascontiguousarray(a.T)).t() if not a.flags.c_contiguous
                     else torch.from_numpy(a),
                     torch.from_numpy(np.ascontiguousarray(b.T)).t() if not b.flags.c_contiguous
                     else torch.from_numpy(b),
                     torch.from_numpy(out)) for a, b, out in self.ops]
        self._mm = torch.mm

    def step(self) -> None:
        mm = self._mm
        for a, b, out in self.ops:
            mm(a, b, out=out)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    import resource
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # KiB on Linux
    return kb / 1024.0


def vmhwm_mb() -> float | None:
    """Peak resident set of this address space (Linux /proc), or None."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None
