"""Data-parallel training over MPI: time per step against the number of ranks K, split into
compute and Allreduce, the bytes each step sends, and a model of the speed-up on N machines.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/distributed.py            # ~2-4 min
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/distributed.py --quick    # smoke run

The parent starts ``mpirun -n K python bench/distributed.py --rank ...`` for each K (loopback,
one BLAS thread per rank). Each rank trains with the engine (``ffnn.Trainer(distributed=...)``)
on MNIST-shaped random data, global batch B; a timing wrapper around the MPI backend splits
each step into *compute* (forward, backward and update on the rank's B/K samples), *wait* (a
Barrier before the Allreduce: load imbalance and noise) and *Allreduce* (the one call over the
flat gradient buffer, with packing and unpacking). The fastest repeat is kept (the one least
disturbed by other processes on a shared machine).

The model: N machines like this one, one rank each using all its cores, global batch B, a ring
Allreduce over a network of bandwidth W and per-message latency a::

    t(N) = compute(B/N) + 2 (N-1)/N * bytes / W + 2 (N-1) a,      speed-up S(N) = t(1) / t(N)

``compute(b)`` is measured here in one process at batch b (``--model-threads`` BLAS threads).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import NETS, machine_info, make_data, openblas_arch, pin_threads  # noqa: E402

import ffnn  # noqa: E402
from ffnn import losses, mlp, optim  # noqa: E402

BENCH_NETS = {"A": NETS["A"], "B": NETS["B"]}          # 784-100-10 and 784-1024-1024-10, ReLU


class TimedBackend:
    """The MPI backend with each Allreduce timed, after a Barrier that absorbs the ranks' imbalance."""

    def __init__(self, inner: ffnn.distributed.MPIDataParallel) -> None:
        self.inner, self.rank, self.size = inner, inner.rank, inner.size
        self.wait = self.reduce = 0.0
        self.steps = 0

    def shard(self, indices: np.ndarray) -> np.ndarray:
        return self.inner.shard(indices)

    def broadcast_parameters(self, params: list) -> None:
        self.inner.broadcast_parameters(params)

    def broadcast(self, value: object) -> object:
        return self.inner.broadcast(value)

    def allreduce_gradients(self, params: list, loss: float, correct: float | None, n: int,
                            reduction: str) -> tuple[float, float | None]:
        t0 = time.perf_counter()
        self.inner.comm.Barrier()
        t1 = time.perf_counter()
        result = self.inner.allreduce_gradients(params, loss, correct, n, reduction)
        self.wait += t1 - t0
        self.reduce += time.perf_counter() - t1
        self.steps += 1
        return result

    @property
    def nbytes(self) -> int:
        buffer = self.inner._buffer
        return 0 if buffer is None else int(buffer.nbytes)


def _trainer(net_name: str, batch: int, distributed: object) -> ffnn.Trainer:
    net = BENCH_NETS[net_name]
    model = mlp(list(net.sizes), net.activation, seed=0)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return ffnn.Trainer(model, losses.SoftmaxCrossEntropy(), opt, batch_size=batch, seed=0, distributed=distributed)


def rank_main(args: argparse.Namespace) -> None:
    """One rank: warm-up epoch, then ``repeats`` timed epochs of ``steps`` steps each."""
    from ffnn.distributed import MPIDataParallel
    pin_threads(1, torch_too=False)
    backend = TimedBackend(MPIDataParallel())
    trainer = _trainer(args.net, args.batch, backend)
    X, y = make_data(args.batch * args.steps)
    trainer.fit(X, y, epochs=1)
    results = []
    for r in range(args.repeats):
        backend.wait = backend.reduce = 0.0
        backend.steps = 0
        trainer.fit(X, y, epochs=2 + r)
        total = trainer.history.records[-1]["seconds"]       # the epoch's steps (not the fit's set-up)
        steps = backend.steps
        results.append({"step": total / steps, "wait": backend.wait / steps, "allreduce": backend.reduce / steps})
    if backend.rank == 0:
        Path(args.rank).write_text(json.dumps({"repeats": results, "bytes": backend.nbytes}))


def compute_time(net_name: str, batch: int, steps: int, repeats: int) -> float:
    """Seconds per step of one process at ``batch`` (forward, backward, update; no MPI)."""
    trainer = _trainer(net_name, batch, None)
    X, y = make_data(batch * steps)
    trainer.fit(X, y, epochs=1)
    times = []
    for r in range(repeats):
        trainer.fit(X, y, epochs=2 + r)
        times.append(trainer.history.records[-1]["seconds"] / steps)
    return float(np.min(times))


def measure_k(mpirun: str, net: str, k: int, batch: int, steps: int, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rank0.json"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        command = [mpirun, "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-n", str(k),
                   sys.executable, __file__, "--rank", str(out), "--net", net, "--batch", str(batch),
                   "--steps", str(steps), "--repeats", str(repeats)]
        subprocess.run(command, check=True, env=env, timeout=900)
        data = json.loads(out.read_text())
    best = min(data["repeats"], key=lambda r: r["step"])          # the repeat least disturbed by other processes
    med = {key: float(best[key]) for key in ("step", "wait", "allreduce")}
    med["compute"] = med["step"] - med["wait"] - med["allreduce"]
    return {**med, "bytes": data["bytes"], "k": k, "net": net, "batch": batch}


def model_table(net: str, compute: dict[int, float], nbytes: int, bandwidths: list[float], latency: float,
                ns: list[int]) -> list[str]:
    lines = []
    for gbit in bandwidths:
        rate = gbit * 1e9 / 8
        t1 = compute[1]
        cells = []
        for n in ns:
            t = compute[n] + 2 * (n - 1) / n * nbytes / rate + 2 * (n - 1) * latency
            cells.append(f"{t1 / t:6.2f}x")
        lines.append(f"{net:<4} {gbit:>7g} Gbit/s | " + "  ".join(cells))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--ks", default="1,2", help="ranks to measure on this machine [1,2]")
    parser.add_argument("--batch", type=int, default=128, help="global batch size [128]")
    parser.add_argument("--nets", default="A,B")
    parser.add_argument("--model-threads", type=int, default=1,
                        help="BLAS threads of one machine's rank in the model [1: on a shared machine 2-thread "
                             "OpenBLAS stalls; give the cores of an idle one]")
    parser.add_argument("--latency-us", type=float, default=20.0, help="per-message network latency [20 us]")
    parser.add_argument("--json", help="write every number here")
    parser.add_argument("--rank", help=argparse.SUPPRESS)
    parser.add_argument("--net", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank:
        rank_main(args)
        return
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        sys.exit("bench/distributed.py needs mpirun (apt install openmpi-bin) and mpi4py")
    repeats = 3 if args.quick else 5
    info = machine_info()
    print(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs; numpy {info['numpy']} "
          f"({info['numpy_blas']}, kernel {openblas_arch()}); load average {os.getloadavg()[0]:.1f}")
    ks = [int(k) for k in args.ks.split(",")]
    nets = args.nets.split(",")
    rows, record = [], {"machine": info, "batch": args.batch, "loopback": [], "compute": {}}
    print(f"\nLoopback, global batch {args.batch}, one BLAS thread per rank (ms per step, fastest of {repeats} "
          "repeats; Allreduce = pack + MPI call + unpack):")
    print("net  K  share | step ms  compute ms  wait ms  Allreduce ms | bytes/step  Allreduce GB/s")
    for net in nets:
        steps = max(8, (64 if args.quick else 256) // (8 if net == "B" else 1))
        for k in ks:
            m = measure_k(mpirun, net, k, args.batch, steps, repeats)
            rows.append(m)
            record["loopback"].append(m)
            rate = m["bytes"] / m["allreduce"] / 1e9 if k > 1 and m["allreduce"] > 0 else float("nan")
            print(f"{net:<4} {k}  {-(-args.batch // k):>5} | {1e3 * m['step']:7.2f}  {1e3 * m['compute']:10.2f}  "
                  f"{1e3 * m['wait']:7.2f}  {1e3 * m['allreduce']:12.3f} | {m['bytes']:>10,}  {rate:13.2f}")
    ns = [1, 2, 4, 8, 16]
    pin_threads(args.model_threads, torch_too=False)
    print(f"\nModel: N machines like this one (one rank each, {args.model_threads} BLAS threads), global batch "
          f"{args.batch}, ring Allreduce, latency {args.latency_us:g} us; speed-up over one machine:")
    print("net  bandwidth     | " + "  ".join(f"{'N=' + str(n):>7}" for n in ns))
    for net in nets:
        steps = max(8, (64 if args.quick else 256) // (8 if net == "B" else 1))
        compute = {n: compute_time(net, -(-args.batch // n), steps, repeats) for n in ns}
        record["compute"][net] = compute
        nbytes = next(m["bytes"] for m in rows if m["net"] == net)
        for line in model_table(net, compute, nbytes, [1, 10, 100], args.latency_us * 1e-6, ns):
            print(line)
        print("     compute(B/N) ms | " + "  ".join(f"{1e3 * compute[n]:7.2f}" for n in ns))
    print(f"\nload average at the end {os.getloadavg()[0]:.1f} (other processes share this machine: noisy)")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
