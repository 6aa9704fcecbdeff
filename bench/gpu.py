"""One training step on a GPU: ffnn (CuPy, PyTorch CUDA, PyTorch CUDA + CUDA graph) against
PyTorch eager and JAX (issue #17).

Run from the repository root on a machine with a CUDA GPU (see bench/README.md)::

    python bench/gpu.py [--batches 128,1024,4096] [--check-steps 20] [--repeats 7]
        [--min-block 0.2] [--sizes 784,1024,1024,10] [--threads N] [--json OUT] [--dry-run | --cpu]

The net is 784-1024-1024-10 (ReLU), softmax cross-entropy, SGD(lr=0.01, momentum=0.9), float32
everywhere: TF32 off in PyTorch (``allow_tf32 = False``, ``float32_matmul_precision
"highest"``) and CuPy (``CUPY_TF32=0``), JAX at ``default_matmul_precision "highest"``.

Correctness: every path starts from the same initial weights (drawn once, with NumPy, by
``ffnn.mlp``) and trains ``--check-steps`` steps on the same batches; its weights are then
compared with ffnn's NumPy backend on the CPU after the same steps (max abs difference; ~1e-5
is float32 rounding). The CUDA-graph path's weights after N replays must also equal the plain
``torch:cuda`` path's after N steps.

Timing: one training step on batches already on the device (each path's own step: ffnn's
engine ``Trainer._step``, ``opt.zero_grad / loss.backward / opt.step``, one ``jax.jit`` call),
in blocks of k steps lasting >= ``--min-block`` seconds with the device synchronized at both
ends, after a warm-up; blocks interleaved path by path, then in reverse order, ``--repeats``
times. samples/s is the batch over the median seconds per step; the ratio to PyTorch eager is
the median of the per-repeat ratios of adjacent blocks, so drift of the machine cancels.

``--dry-run`` runs the same code on tiny sizes on the CPU ("torch:cpu" for ffnn's torch path,
PyTorch eager and JAX on the CPU; the CuPy and CUDA-graph paths are reported as skipped) in a
few seconds: the test of this script. ``--cpu`` runs the full net on the CPU the same way
(batches 128 and 1024): which backend to pick on a machine without a GPU. ffnn on NumPy is
timed in every mode (on a GPU machine: the CPU it would otherwise run on).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

LR, MOMENTUM = 0.01, 0.9
WEIGHT_TOL = 1e-4     # every path against ffnn-NumPy after the check steps (float32: ~1e-5 expected)
GRAPH_TOL = 1e-6      # CUDA-graph replays against plain steps: the same kernels, so bitwise equal expected
NEEDS_CUDA = "needs CUDA (this run is on the CPU)"

PATHS = {
    "ffnn-numpy": "ffnn, backend 'numpy' on the CPU (also the weights' reference)",
    "ffnn-cupy": "ffnn, backend {spec}",
    "ffnn-torch": "ffnn, backend {spec}",
    "ffnn-torch-graph": "ffnn, backend {spec}, one step captured as a CUDA graph and replayed",
    "torch-eager": "PyTorch eager on the {device}: nn.Sequential, F.cross_entropy, optim.SGD(momentum=0.9)",
    "jax-jit": "JAX on the {device}: jax.jit of the whole step (grad, SGD momentum), buffers donated",
}
BASELINE = "torch-eager"


@dataclass(frozen=True)
class Config:
    """What one run measures: the full benchmark (:data:`FULL`) or the dry run (:data:`DRY`)."""

    sizes: tuple[int, ...]
    batches: tuple[int, ...]
    check_steps: int          # N: the steps of the weight check (and the batches cycled when timing)
    repeats: int              # timed blocks per path and batch size
    min_block: float          # seconds a timed block lasts at least
    warmup_steps: int         # untimed steps before the blocks (also the step-time estimate)
    cuda: bool                # False: on the CPU (--dry-run, --cpu)
    max_block_steps: int = 20_000
    pause: float = 0.05       # seconds of idle before each block: spinning threads of the last path settle

    def ffnn_spec(self, path: str) -> str | None:
        """The ffnn backend of an ffnn path (None: the path needs CUDA and this run is on the CPU)."""
        if path == "ffnn-numpy":
            return "numpy"
        if path == "ffnn-torch":
            return "torch:cuda" if self.cuda else "torch:cpu"
        if not self.cuda:
            return None
        return {"ffnn-cupy": "cupy", "ffnn-torch-graph": "torch:cuda"}[path]


FULL = Config(sizes=(784, 1024, 1024, 10), batches=(128, 1024, 4096), check_steps=20, repeats=7,
              min_block=0.2, warmup_steps=20, cuda=True)
DRY = Config(sizes=(784, 32, 32, 10), batches=(8, 16), check_steps=3, repeats=3,
             min_block=0.005, warmup_steps=2, cuda=False, max_block_steps=50, pause=0.0)
CPU = Config(sizes=FULL.sizes, batches=(128, 1024), check_steps=20, repeats=5, min_block=0.2,
             warmup_steps=5, cuda=False, pause=0.2)
"""``--cpu``: the full net on the CPU backends (which one to pick on a machine without a GPU)."""


def describe(path: str, cfg: Config) -> str:
    """What ``path`` runs, in words: its backend spec or device under ``cfg`` (for a path a dry
    run skips, the spec it has on a GPU)."""
    spec = (cfg.ffnn_spec(path) or FULL.ffnn_spec(path)) if path.startswith("ffnn") else None
    return PATHS[path].format(spec=repr(spec), device="GPU" if cfg.cuda else "CPU")


class Skip(Exception):
    """A path that cannot run here (its library or the device is missing); the message says why."""


# --------------------------------------------------------------------------- precision
def pin_precision_env() -> None:
    """Environment read at import: CuPy's TF32 switch off, JAX not grabbing 75% of the GPU
    (it shares the device with PyTorch and CuPy). Must run before they are imported."""
    os.environ["CUPY_TF32"] = "0"
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"


def pin_precision() -> dict[str, Any]:
    """float32 GEMMs everywhere (no TF32, no bf16 passes); returns the settings as read back."""
    out: dict[str, Any] = {"CUPY_TF32": os.environ.get("CUPY_TF32")}
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        out.update(torch_matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                   torch_cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                   torch_float32_matmul_precision=torch.get_float32_matmul_precision())
    try:
        import jax
    except ImportError:
        pass
    else:
        jax.config.update("jax_default_matmul_precision", "highest")
        out["jax_default_matmul_precision"] = jax.config.jax_default_matmul_precision
    return out


def device_info(cuda: bool) -> dict[str, Any]:
    """The device's name and the versions of every library that may compute on it."""
    info: dict[str, Any] = {}
    v: dict[str, Any] = {}
    try:
        import torch
    except ImportError:
        pass
    else:
        v.update(torch=torch.__version__, torch_cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
        if cuda and torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info.update(name=props.name, capability=f"{props.major}.{props.minor}",
                        memory_gib=round(props.total_memory / 2**30, 1))
    try:
        import cupy
    except ImportError:
        pass
    else:
        v["cupy"] = cupy.__version__
        try:
            v.update(cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                     cuda_driver=cupy.cuda.runtime.driverGetVersion())
            if cuda and "name" not in info:
                name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
                info["name"] = name.decode() if isinstance(name, bytes) else str(name)
        except Exception:  # noqa: BLE001 - informational; the cupy path reports why it cannot run
            pass
    try:
        import jax
        import jaxlib
    except ImportError:
        pass
    else:
        v.update(jax=jax.__version__, jaxlib=jaxlib.__version__, jax_backend=jax.default_backend())
    if "name" not in info:
        info["name"] = f"CPU: {C.lscpu_model()} (dry run)" if not cuda else "no CUDA device found"
    info["versions"] = v
    return info


# --------------------------------------------------------------------------- the paths
def draw_init(sizes: tuple[int, ...]) -> list[np.ndarray]:
    """The initial weights of every path, drawn once: ``ffnn.mlp``'s He/Xavier init, seed 0,
    in ffnn's parameter order (W1, b1, W2, b2, ...; each W of shape (out, in), as PyTorch's)."""
    import ffnn
    return [p.value.copy() for p in ffnn.mlp(sizes, "relu", seed=0, dtype=np.float32).parameters()]


def _pairs(init: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    return list(zip(init[0::2], init[1::2], strict=True))


def _ffnn_backend(spec: str) -> Any:
    import ffnn.backend
    from ffnn.errors import ConfigError
    try:
        return ffnn.backend.get(spec)
    except ConfigError as e:
        raise Skip(str(e)) from None


class FfnnRunner:
    """ffnn on a backend, stepped by the engine's own per-batch step, ``Trainer._step``
    (forward, loss, backward, ``optimizer.step()``), on batches already on the device."""

    def __init__(self, spec: str, sizes: tuple[int, ...], init: list[np.ndarray],
                 batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        import ffnn
        from ffnn import losses, optim
        self.backend = bk = _ffnn_backend(spec)
        self.model = ffnn.mlp(sizes, "relu", seed=0, dtype=np.float32)
        for p, w in zip(self.model.parameters(), init, strict=True):
            np.copyto(p.value, w)
        if spec != "numpy":
            self.model.to(spec)
        # built after model.to(): the optimizer's state (the velocities) lives where the weights do
        self.opt = optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.trainer = ffnn.Trainer(self.model, losses.SoftmaxCrossEntropy(), self.opt,
                                    batch_size=len(batches[0][0]))
        self.model.train()
        self.batches = [(bk.asarray(x), bk.asarray(y)) for x, y in batches]

    def step(self, i: int) -> None:
        xb, yb = self.batches[i]
        self.trainer._step(xb, yb, i)

    def sync(self) -> None:
        self.backend.synchronize()

    def weights(self) -> list[np.ndarray]:
        return [self.backend.to_numpy(p.value) for p in self.model.parameters()]


class FfnnGraphRunner(FfnnRunner):
    """ffnn on ``torch:cuda`` with one training step captured as a ``torch.cuda.CUDAGraph``:
    a step is copying the batch into the static input/label buffers and one ``replay()``.

    Replaying is the same step because SGD with momentum at a constant learning rate has no
    per-step Python scalar: ``lr`` and ``momentum`` are the same constants in every step's
    kernels, the weights and velocities are updated in place (the graph holds their
    addresses), and no step count enters the arithmetic (unlike Adam's bias correction). The
    step must read nothing back to the host (the backend is deferred: the engine keeps the
    loss on the device). One Python-side decision is frozen at capture: the optimizer's
    subnormal flush every 32 steps (``Optimizer._flush_subnormals``) is not in the captured
    (4th) step, so replays never flush, and the timed replays skip the plain path's flush
    every 32nd step; a flush only zeroes values below 1.2e-38, so the weights cannot tell.
    The check: N replays from the initial state must give the weights of N plain
    ``torch:cuda`` steps.
    """

    def __init__(self, spec: str, sizes: tuple[int, ...], init: list[np.ndarray],
                 batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        super().__init__(spec, sizes, init, batches)
        torch, bk = self.backend.torch, self.backend
        self.static = (bk.copy(self.batches[0][0]), bk.copy(self.batches[0][1]))
        xs, ys = self.static
        # PyTorch's recipe: a few eager steps on a side stream first, so that everything
        # allocated lazily (layer scratch buffers, cuBLAS workspaces) exists before capture
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.trainer._step(xs, ys, 0)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.trainer._step(xs, ys, 0)
        # the warm-up moved the weights and velocities: back to the initial state, in place
        for p, w in zip(self.model.parameters(), init, strict=True):
            bk.copy_into(p.value, w)
        for v in self.opt.velocity:
            bk.copy_into(v, np.zeros(v.shape, np.float32))
        bk.synchronize()

    def step(self, i: int) -> None:
        xb, yb = self.batches[i]
        self.static[0].copy_(xb)
        self.static[1].copy_(yb)
        self.graph.replay()


def _torch(cuda: bool) -> Any:
    try:
        import torch
    except ImportError:
        raise Skip("PyTorch is not installed") from None
    if cuda and not torch.cuda.is_available():
        raise Skip(f"PyTorch {torch.__version__} sees no CUDA device here")
    return torch


class TorchEagerRunner:
    """PyTorch eager: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``, ``F.cross_entropy``,
    ``optim.SGD(momentum=0.9)`` (foreach), ``zero_grad(set_to_none=True)``."""

    def __init__(self, cuda: bool, init: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        torch = self.torch = _torch(cuda)
        from torch import nn
        self.device = torch.device("cuda" if cuda else "cpu")
        pairs = _pairs(init)
        mods: list[Any] = []
        for k, (W, b) in enumerate(pairs):
            lin = nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            mods += [lin] + ([nn.ReLU()] if k < len(pairs) - 1 else [])
        self.model = nn.Sequential(*mods).to(self.device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.loss = nn.functional.cross_entropy
        self.batches = [(torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device))
                        for x, y in batches]

    def step(self, i: int) -> None:
        xb, yb = self.batches[i]
        self.opt.zero_grad(set_to_none=True)
        self.loss(self.model(xb), yb).backward()
        self.opt.step()

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def weights(self) -> list[np.ndarray]:
        return [p.detach().cpu().numpy().copy() for p in self.model.parameters()]


def _jax_device(cuda: bool) -> Any:
    try:
        import jax
    except ImportError:
        raise Skip("JAX is not installed (pip install 'jax[cuda12]')") from None
    try:
        return jax.devices("gpu" if cuda else "cpu")[0]
    except RuntimeError:
        raise Skip(f"JAX {jax.__version__} has no GPU backend here (pip install 'jax[cuda12]')") from None


class JaxRunner:
    """JAX: the whole step (forward, ``jax.grad`` of the mean softmax cross-entropy, SGD with
    momentum as ``torch.optim.SGD``: ``b = mu b + g; w -= lr b``) as one ``jax.jit`` function,
    parameter and velocity buffers donated (updated in place). Dispatch is asynchronous:
    :meth:`sync` blocks until the last step's parameters are ready."""

    def __init__(self, cuda: bool, init: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> None:
        device = _jax_device(cuda)
        import jax
        import jax.numpy as jnp
        self.jax = jax

        def put(a: np.ndarray) -> Any:
            return jax.device_put(a, device)

        self.params = [(put(W), put(b)) for W, b in _pairs(init)]
        self.vel = [(put(np.zeros_like(W)), put(np.zeros_like(b))) for W, b in _pairs(init)]
        self.batches = [(put(x), put(y.astype(np.int32))) for x, y in batches]
        n_layers = len(self.params)

        def loss_fn(params: Any, xb: Any, yb: Any) -> Any:
            h = xb
            for k, (W, b) in enumerate(params):
                h = h @ W.T + b
                if k < n_layers - 1:
                    h = jax.nn.relu(h)
            logp = jax.nn.log_softmax(h, axis=1)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        grad_fn = jax.grad(loss_fn)

        def step(params: Any, vel: Any, xb: Any, yb: Any) -> tuple[Any, Any]:
            g = grad_fn(params, xb, yb)
            vel = jax.tree_util.tree_map(lambda v, g_: MOMENTUM * v + g_, vel, g)
            params = jax.tree_util.tree_map(lambda p, v: p - LR * v, params, vel)
            return params, vel

        self._step = jax.jit(step, donate_argnums=(0, 1))

    def step(self, i: int) -> None:
        xb, yb = self.batches[i]
        self.params, self.vel = self._step(self.params, self.vel, xb, yb)

    def sync(self) -> None:
        self.jax.block_until_ready(self.params)

    def weights(self) -> list[np.ndarray]:
        return [np.array(a) for pair in self.params for a in pair]


Runner = FfnnRunner | TorchEagerRunner | JaxRunner


def make_runner(path: str, cfg: Config, init: list[np.ndarray], batches: list[tuple[np.ndarray, np.ndarray]]) -> Runner:
    """Build ``path`` from the initial weights, with the batches on its device; raises
    :class:`Skip` when its library or device is missing."""
    if path == "torch-eager":
        return TorchEagerRunner(cfg.cuda, init, batches)
    if path == "jax-jit":
        return JaxRunner(cfg.cuda, init, batches)
    spec = cfg.ffnn_spec(path)
    if spec is None:
        raise Skip(NEEDS_CUDA)
    if path == "ffnn-torch-graph":
        return FfnnGraphRunner(spec, cfg.sizes, init, batches)
    return FfnnRunner(spec, cfg.sizes, init, batches)


# --------------------------------------------------------------------------- measuring
def check_run(runner: Runner, n_steps: int) -> list[np.ndarray]:
    """The weights after ``n_steps`` steps on batches 0, 1, ... (as NumPy)."""
    for i in range(n_steps):
        runner.step(i)
    runner.sync()
    return runner.weights()


def max_abs_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """max over every parameter of max |a - b| (NaN if any weight is not finite)."""
    return max(float(np.max(np.abs(x.astype(np.float64) - y))) for x, y in zip(a, b, strict=True))


def run_block(runner: Runner, start: int, k: int, pause: float = 0.0) -> float:
    """Seconds per step of ``k`` steps (batches ``start``, ``start + 1``, ... cycled), the
    device synchronized before the clock starts and before it stops, after ``pause`` seconds
    of idle (the threads a previous path left spinning stop stealing cores)."""
    n = len(runner.batches)
    runner.sync()
    time.sleep(pause)
    t0 = time.perf_counter()
    for s in range(start, start + k):
        runner.step(s % n)
    runner.sync()
    return (time.perf_counter() - t0) / k


def time_interleaved(runners: dict[str, Runner], cfg: Config,
                     entries: dict[str, dict[str, Any]]) -> dict[str, tuple[int, list[float]]]:
    """Per path: (steps per block, seconds per step of each block); blocks interleaved A, B, C,
    then C, B, A, .... A path that raises is marked failed in ``entries`` and dropped."""
    names = list(runners)
    k: dict[str, int] = {}
    secs: dict[str, list[float]] = {name: [] for name in names}

    def block(name: str, start: int, steps: int) -> float | None:
        try:
            return run_block(runners[name], start, steps, cfg.pause)
        except Exception as e:  # noqa: BLE001 - reported; the other paths go on
            traceback.print_exc()
            entries[name].update(status="failed", reason=f"timing: {type(e).__name__}: {e}")
            names.remove(name)
            return None

    for name in list(names):     # warm-up, and the step time that sizes the blocks
        estimate = block(name, 0, cfg.warmup_steps)
        if estimate is not None:
            k[name] = int(min(cfg.max_block_steps, max(1, math.ceil(cfg.min_block / max(estimate, 1e-9)))))
    for rep in range(cfg.repeats):
        for name in list(names if rep % 2 == 0 else reversed(names)):
            t = block(name, rep * k[name], k[name])
            if t is not None:
                secs[name].append(t)
    return {name: (k[name], secs[name]) for name in names}


def paired_ratio(num_sec: list[float], den_sec: list[float]) -> float:
    """Median over repeats of den/num in seconds per step = speed(num) / speed(den)."""
    return statistics.median(d / n for n, d in zip(num_sec, den_sec, strict=True))


def bench_batch(b: int, cfg: Config, init: list[np.ndarray]) -> dict[str, Any]:
    """Check and time every path at batch size ``b``; the row of the JSON ``results``."""
    X, y = C.make_data(cfg.check_steps * b, seed=b)
    batches = [(X[i * b:(i + 1) * b], y[i * b:(i + 1) * b]) for i in range(cfg.check_steps)]
    reference = check_run(FfnnRunner("numpy", cfg.sizes, init, batches), cfg.check_steps)
    entries: dict[str, dict[str, Any]] = {}
    runners: dict[str, Runner] = {}
    after: dict[str, list[np.ndarray]] = {}
    for path in PATHS:
        try:
            runner = make_runner(path, cfg, init, batches)
            after[path] = check_run(runner, cfg.check_steps)
        except Skip as e:
            entries[path] = {"status": "skipped", "reason": str(e)}
            continue
        except Exception as e:  # noqa: BLE001 - reported; the other paths go on
            traceback.print_exc()
            entries[path] = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
            continue
        runners[path] = runner
        entries[path] = {"status": "ran", "weight_max_abs_diff": max_abs_diff(after[path], reference)}
    if "ffnn-torch-graph" in after and "ffnn-torch" in after:
        entries["ffnn-torch-graph"]["vs_plain_max_abs_diff"] = max_abs_diff(after["ffnn-torch-graph"],
                                                                            after["ffnn-torch"])
    timings = time_interleaved(runners, cfg, entries)
    for path, (k, secs) in timings.items():
        entries[path].update(steps_per_block=k, sec_per_step=secs,
                             samples_per_s=b / statistics.median(secs))
        if BASELINE in timings:
            entries[path]["vs_torch_eager"] = paired_ratio(secs, timings[BASELINE][1])
    return {"batch": b, "paths": entries}


def failed_checks(rows: list[dict[str, Any]]) -> list[str]:
    """What went wrong: failed paths, weights off ffnn-NumPy, graph replays off plain steps."""
    out = []
    for row in rows:
        for path, e in row["paths"].items():
            where = f"batch {row['batch']} {path}"
            if e["status"] == "failed":
                out.append(f"{where}: failed ({e['reason']})")
            d = e.get("weight_max_abs_diff")
            if d is not None and not d <= WEIGHT_TOL:
                out.append(f"{where}: weights differ from ffnn-NumPy by {d:.2e} (> {WEIGHT_TOL:g})")
            g = e.get("vs_plain_max_abs_diff")
            if g is not None and not g <= GRAPH_TOL:
                out.append(f"{where}: N graph replays differ from N plain steps by {g:.2e} (> {GRAPH_TOL:g})")
    return out


# --------------------------------------------------------------------------- output
def _fmt_row(b: int, path: str, e: dict[str, Any]) -> str:
    if e["status"] != "ran":
        return f"{b:>5}  {path:<17} {e['status']}: {e['reason']}"
    sps = e.get("samples_per_s")
    ratio = e.get("vs_torch_eager")
    us = f"{b / sps * 1e6:>10,.1f}" if sps else f"{'-':>10}"
    line = (f"{b:>5}  {path:<17} {(f'{sps:,.0f}' if sps else '-'):>12} {us} "
            f"{(f'{ratio:.2f}x' if ratio is not None else '-'):>9} {e['weight_max_abs_diff']:>14.1e}")
    g = e.get("vs_plain_max_abs_diff")
    if g is not None:
        line += "   replays = plain steps (bitwise)" if g == 0.0 else f"   replays vs plain steps {g:.1e}"
    return line


TABLE_HEADER = f"{'batch':>5}  {'path':<17} {'samples/s':>12} {'us/step':>10} {'vs torch':>9} {'max|w-w_np|':>14}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true",
                      help="tiny sizes on the CPU (784-32-32-10, batches 8 and 16, 3 steps): a smoke test in seconds")
    mode.add_argument("--cpu", action="store_true",
                      help="the full net on the CPU backends (batches 128 and 1024), for a machine without a GPU")
    p.add_argument("--batches", help="comma-separated batch sizes (default 128,1024,4096)")
    p.add_argument("--sizes", help="the net's layer sizes, comma-separated (default 784,1024,1024,10)")
    p.add_argument("--check-steps", type=int, help="steps of the weight check (default 20)")
    p.add_argument("--repeats", type=int, help="timed blocks per path and batch size (default 7)")
    p.add_argument("--min-block", type=float, help="seconds a timed block lasts at least (default 0.2)")
    p.add_argument("--threads", type=int,
                   help="pin CPU BLAS/intra-op threads (default: as they are; 1 with --dry-run)")
    p.add_argument("--json", metavar="OUT", help="write every figure (per-block times included) to OUT")
    a = p.parse_args(argv)
    base = DRY if a.dry_run else CPU if a.cpu else FULL
    changes: dict[str, Any] = {}
    if a.batches:
        changes["batches"] = tuple(int(s) for s in a.batches.split(",") if s.strip())
    if a.sizes:
        changes["sizes"] = tuple(int(s) for s in a.sizes.split(",") if s.strip())
        if len(changes["sizes"]) < 2 or changes["sizes"][0] != C.N_FEATURES or changes["sizes"][-1] != C.N_CLASSES:
            p.error(f"--sizes must run from {C.N_FEATURES} inputs to {C.N_CLASSES} outputs, e.g. 784,100,10")
    for opt in ("check_steps", "repeats", "min_block"):
        if getattr(a, opt) is not None:
            changes[opt] = getattr(a, opt)
    a.config = replace(base, **changes)
    if a.config.check_steps < 1 or a.config.repeats < 1 or not a.config.batches or min(a.config.batches) < 1:
        p.error("--batches, --check-steps and --repeats must be positive")
    if a.threads is None and a.dry_run:
        a.threads = 1
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg: Config = args.config
    pin_precision_env()
    if args.threads:
        C.jax_threads_flags(args.threads)   # before anything imports jax
        C.pin_threads(args.threads)
    started = time.time()
    precision = pin_precision()
    device = device_info(cfg.cuda)
    results: dict[str, Any] = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "dry_run": args.dry_run, "cpu": args.cpu, "config": asdict(cfg), "lr": LR, "momentum": MOMENTUM,
        "threads": args.threads, "weight_tol": WEIGHT_TOL, "graph_tol": GRAPH_TOL,
        "machine": C.machine_info(), "device": device, "precision": precision,
        "paths": {path: describe(path, cfg) for path in PATHS}}
    v = device["versions"]
    mode = "  (dry run: tiny sizes, on the CPU)" if args.dry_run else "  (on the CPU)" if args.cpu else ""
    print(f"ffnn GPU benchmark  {results['date']}{mode}")
    print(f"device: {device['name']}" + (f", compute capability {device['capability']}, {device['memory_gib']} GiB"
                                         if "capability" in device else ""))
    print(f"versions: python {results['machine']['python']}, numpy {np.__version__}, ffnn {results['machine']['ffnn']}"
          f", torch {v.get('torch')} (CUDA {v.get('torch_cuda')}, cuDNN {v.get('cudnn')}), cupy {v.get('cupy')}"
          f" (CUDA runtime {v.get('cuda_runtime')}, driver {v.get('cuda_driver')}), jax {v.get('jax')}"
          f" (jaxlib {v.get('jaxlib')}, backend {v.get('jax_backend')})")
    print("precision: float32; " + ", ".join(f"{k}={val}" for k, val in precision.items()))
    print(f"net {'-'.join(map(str, cfg.sizes))} ReLU, softmax cross-entropy, SGD lr {LR} momentum {MOMENTUM}; "
          f"check: {cfg.check_steps} steps from the same initial weights against ffnn-NumPy on the CPU; "
          f"timing: median of {cfg.repeats} interleaved blocks (>= {cfg.min_block} s each, device synchronized)")
    for path, label in results["paths"].items():
        print(f"  {path:<17} {label}")
    print(f"\n{TABLE_HEADER}")
    init = draw_init(cfg.sizes)
    rows = []
    for b in cfg.batches:
        row = bench_batch(b, cfg, init)
        rows.append(row)
        for path, e in row["paths"].items():
            print(_fmt_row(b, path, e), flush=True)
    results["results"] = rows
    problems = failed_checks(rows)
    results["problems"] = problems
    results["elapsed_s"] = time.time() - started
    print("\nsamples/s: batch / median seconds per step; vs torch: median ratio to the adjacent PyTorch eager block "
          f"(> 1: faster); max|w-w_np|: weights after {cfg.check_steps} steps against ffnn-NumPy (tolerance "
          f"{WEIGHT_TOL:g})")
    for line in problems:
        print(f"PROBLEM  {line}")
    print(f"\nelapsed {results['elapsed_s']:.1f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, default=str)
        print(f"results written to {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
