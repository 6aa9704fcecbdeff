"""Training throughput of ffnn against PyTorch CPU, JAX and scikit-learn (issues #4, #13).

Run from the repository root (see bench/README.md)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/throughput.py [--quick]
        [--threads 2] [--nets A,B,C] [--json OUT] [--profile] [--no-sklearn] [--no-jax]
        [--skip memory,scaling,overhead]

Everything is measured in one process (the memory figures in fresh subprocesses): the same
float32 data, batch size, SGD(lr=0.01, momentum=0.9), softmax cross-entropy and initial
weights for ffnn, PyTorch and JAX (the whole step under ``jax.jit``, buffers donated); all
pinned to the same number of BLAS / intra-op threads. Timed: the training steps only (batch
gathering included, each library's own way), after a warm-up, as the median of repeats
interleaved ffnn / torch / jax / gemm / sklearn, then reversed, with a short pause between
blocks so spinning idle BLAS threads of one library do not steal a core from the next.
Ratios are medians of the per-repeat (adjacent-block) ratios, so machine drift cancels;
absolute samples/s drift with the machine.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

TARGETS_TEXT = {
    "vs_torch": "ffnn >= PyTorch on every net and batch",
    "vs_jax": "ffnn >= JAX (jit) on every net and batch",
    "B_vs_gemm": "B: ffnn >= 80% of GEMM-bound (b>=128)",
    "B_memory": "B peak RSS: ffnn < PyTorch",
    "fit_overhead": "fit epoch within 15% of step loop",
}


# --------------------------------------------------------------------------- timing core
def interleave(runners, n, perm_len, repeats, min_block, pause, rng, max_k=1000):
    """Time each runner's ``fn(perm)`` in blocks interleaved A/B/C, C/B/A, ...

    runners: ordered dict name -> (fn, samples_per_call). Each block repeats the call k
    times (k per runner, calibrated after a warm-up so a block lasts >= ``min_block``).
    Returns name -> list of seconds per sample, one per repeat (index r pairs blocks).
    """
    names = list(runners)
    k = {}
    for name in names:
        fn, _ = runners[name]
        fn(rng.permutation(n)[:perm_len])                      # warm-up: buffers, threads, caches
        t = C.timed(fn, rng.permutation(n)[:perm_len])
        k[name] = int(min(max_k, max(1, math.ceil(min_block / max(t, 1e-9)))))
        time.sleep(pause)
    per_sample = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn, samples = runners[name]
            perms = [rng.permutation(n)[:perm_len] for _ in range(k[name])]
            t0 = time.perf_counter()
            for p in perms:
                fn(p)
            per_sample[name].append((time.perf_counter() - t0) / (k[name] * samples))
            time.sleep(pause)
    return per_sample


def med(xs):
    return statistics.median(xs)


def paired_ratio(num_sec, den_sec):
    """median over repeats of den/num in seconds per sample = speed(num) / speed(den)."""
    return med([d / n for n, d in zip(num_sec, den_sec)])


# --------------------------------------------------------------------------- sections
def check_agreement(X, y, with_jax=False):
    """One step of net A from the same weights: ffnn, PyTorch (and JAX) should agree to ~1e-6."""
    import torch
    net = C.NETS["A"]
    f = C.FfnnTrainer(net, 32, X, y)
    t = C.TorchTrainer(net, 32, X, y, ffnn_model=f.model)
    j = C.JaxTrainer(net, 32, X, y, ffnn_model=f.model) if with_jax else None
    perm = np.arange(32)
    with torch.no_grad():
        out_t = t.model(t.X[:32]).numpy()
    out_f = f.model(X[:32])
    f.epoch(perm)
    t.epoch(perm)
    w_f = f.model.layers[0].weight.value
    w_t = t.model[0].weight.detach().numpy()
    agree = {"forward_max_abs_diff": float(np.abs(out_f - out_t).max()),
             "weight_after_step_max_abs_diff": float(np.abs(w_f - w_t).max())}
    if j is not None:
        j.epoch(perm)
        agree["jax_weight_after_step_max_abs_diff"] = float(np.abs(w_f - j.weights()).max())
    return agree


def bench_nets(args, X, y, rng, results):
    rows = []
    have_torch, have_jax = _have("torch"), args.jax and _have("jax")
    for key in args.nets:
        net = C.NETS[key]
        flops = net.flops_per_sample()
        for b in net.batches:
            f = C.FfnnTrainer(net, b, X, y)
            # one call = the steps of ~min_block of ffnn work (whole epochs for fast cells)
            f.epoch(np.arange(4 * b))
            step_t = C.timed(f.epoch, np.arange(4 * b)) / 4
            steps = int(max(4, min(len(X) // b, math.ceil(args.min_block / max(step_t, 1e-9)))))
            n_samples = steps * b
            runners = {"ffnn": (f.epoch, n_samples)}
            if have_torch:
                t = C.TorchTrainer(net, b, X, y, ffnn_model=f.model)
                runners["torch"] = (t.epoch, n_samples)
            if have_jax:
                j = C.JaxTrainer(net, b, X, y, ffnn_model=f.model)
                runners["jax"] = (j.epoch, n_samples)
            g = C.GemmOnly(net, b, X)
            runners["gemm"] = (g.epoch, n_samples)
            if have_torch and args.torch_gemm:
                tg = C.TorchGemmOnly(net, b, X)
                runners["torch_gemm"] = (tg.epoch, n_samples)
            if args.sklearn and _have("sklearn") and b == 128:
                s = C.SklearnTrainer(net, b, X, y)
                runners["sklearn"] = (s.epoch, len(X))
            ps = interleave(runners, len(X), n_samples, args.repeats, args.min_block, args.pause, rng)
            row = {"net": key, "arch": "-".join(map(str, net.sizes)), "activation": net.activation,
                   "batch": b, "flops_per_sample": flops["total"], "steps_per_call": steps}
            for name, secs in ps.items():
                row[f"{name}_samples_per_s"] = 1.0 / med(secs)
                row[f"{name}_sec_per_sample"] = secs
            row["gemm_gflops"] = flops["total"] * row["gemm_samples_per_s"] / 1e9
            row["ffnn_vs_gemm"] = paired_ratio(ps["ffnn"], ps["gemm"])
            for other in ("torch", "jax", "sklearn"):
                if other in ps:
                    row[f"ffnn_vs_{other}"] = paired_ratio(ps["ffnn"], ps[other])
            if "torch" in ps:
                row["torch_vs_gemm"] = paired_ratio(ps["torch"], ps["gemm"])
            if "jax" in ps:
                row["jax_vs_gemm"] = paired_ratio(ps["jax"], ps["gemm"])
            if "torch_gemm" in ps:
                row["torch_gemm_vs_gemm"] = paired_ratio(ps["torch_gemm"], ps["gemm"])
            rows.append(row)
            print(_fmt_net_row(row), flush=True)
    results["throughput"] = rows


def _fmt(x, spec="{:,.0f}"):
    return "-" if x is None else spec.format(x)


NET_HEADER = (f"{'net':<3} {'batch':>5} | {'ffnn/s':>9} {'torch/s':>9} {'jax/s':>9} {'GEMM-lim/s':>10}"
              f" | {'ffnn/torch':>10} {'ffnn/jax':>8} {'ffnn/GEMM':>9} {'torch/GEMM':>10} {'jax/GEMM':>8}"
              f" {'ffnn/skl':>8} | {'GEMM GF/s':>9} {'torchGEMM':>9}")


def _fmt_net_row(r):
    g = r.get
    return (f"{r['net']:<3} {r['batch']:>5} | {_fmt(g('ffnn_samples_per_s')):>9} {_fmt(g('torch_samples_per_s')):>9}"
            f" {_fmt(g('jax_samples_per_s')):>9} {_fmt(g('gemm_samples_per_s')):>10}"
            f" | {_fmt(g('ffnn_vs_torch'), '{:.2f}x'):>10} {_fmt(g('ffnn_vs_jax'), '{:.2f}x'):>8}"
            f" {_fmt(g('ffnn_vs_gemm'), '{:.0%}'):>9} {_fmt(g('torch_vs_gemm'), '{:.0%}'):>10}"
            f" {_fmt(g('jax_vs_gemm'), '{:.0%}'):>8} {_fmt(g('ffnn_vs_sklearn'), '{:.2f}x'):>8}"
            f" | {_fmt(g('gemm_gflops'), '{:.1f}'):>9} {_fmt(g('torch_gemm_vs_gemm'), '{:.2f}x'):>9}")


def bench_fit_overhead(args, X, y, rng, results):
    import ffnn
    from ffnn import losses, optim
    net, b = C.NETS["B"], 128
    loop = C.FfnnTrainer(net, b, X, y)
    model = C.build_ffnn(net)
    loss = losses.SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    fit_rng = np.random.default_rng(1)

    def fit_epoch(_perm):
        ffnn.fit(model, loss, opt, X, y, epochs=1, batch_size=b, progress=False, seed=fit_rng)

    ps = interleave({"loop": (loop.epoch, (len(X) // b) * b), "fit": (fit_epoch, len(X))},
                    len(X), len(X), args.repeats, 0.0, args.pause, rng)
    ov = med([f / l for f, l in zip(ps["fit"], ps["loop"])]) - 1.0
    results["fit_overhead"] = {"net": "B", "batch": b, "loop_epoch_s": med(ps["loop"]) * len(X),
                               "fit_epoch_s": med(ps["fit"]) * len(X), "overhead": ov}
    r = results["fit_overhead"]
    print(f"net B batch {b}: step loop {r['loop_epoch_s'] * 1e3:.1f} ms/epoch, ffnn.fit "
          f"{r['fit_epoch_s'] * 1e3:.1f} ms/epoch -> overhead {ov:+.1%} (paired median)", flush=True)


def bench_memory(args, results):
    libs = ["ffnn"] + (["torch"] if _have("torch") else [])
    mem = {}
    for lib in libs:
        vals = {}
        for mode in ("baseline", "train"):
            # Linux keeps ru_maxrss across execve, so a child exec'd straight from this (large)
            # process would report *our* peak. Let a tiny `sh` fork it: the grandchild starts a
            # fresh accounting. VmHWM (per address space) is recorded as a cross-check.
            cmd = ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, os.path.abspath(__file__),
                   "--_mem-child", f"{lib},{mode}", "--threads", str(args.threads),
                   "--samples", str(args.samples), "--mem-steps", str(args.mem_steps)]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(f"memory child {lib} {mode} failed:\n{out.stderr}")
            child = json.loads(out.stdout.strip().splitlines()[-1])
            vals[mode] = child["maxrss_mb"]
            vals[f"{mode}_vmhwm_mb"] = child.get("vmhwm_mb")
        vals["training_peak_mb"] = vals["train"] - vals["baseline"]
        mem[lib] = vals
        print(f"{lib:<6} baseline {vals['baseline']:7.1f} MB, after {args.mem_steps} steps "
              f"{vals['train']:7.1f} MB -> training peak {vals['training_peak_mb']:6.1f} MB", flush=True)
    results["memory"] = {"net": "B", "batch": 128, "steps": args.mem_steps, **mem}


def mem_child(spec, args):
    lib, mode = spec.split(",")
    C.pin_threads(args.threads, torch_too=(lib == "torch"))
    X, y = C.make_data(args.samples)
    net, b = C.NETS["B"], 128
    if lib == "torch":
        import torch
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)  # noqa: F841 - part of the baseline
    if mode == "train":
        tr = C.FfnnTrainer(net, b, X, y) if lib == "ffnn" else C.TorchTrainer(net, b, X, y)
        steps_per_epoch = len(X) // b
        rng = np.random.default_rng(0)
        done = 0
        while done < args.mem_steps:
            n_steps = min(steps_per_epoch, args.mem_steps - done)
            tr.epoch(rng.permutation(len(X))[:n_steps * b])
            done += n_steps
    print(json.dumps({"maxrss_mb": C.peak_rss_mb(), "vmhwm_mb": C.vmhwm_mb()}))


def bench_scaling(args, X, y, rng, results):
    have_torch = _have("torch")
    cells = []
    for depth in (1, 2):
        for w in args.widths:
            cells.append((f"width {w} x{depth}", (784,) + (w,) * depth + (10,), 128))
    for b in args.scale_batches:
        cells.append((f"batch {b}", (784, 1024, 1024, 10), b))
    print(f"{'cell':<16} {'arch':<20} {'batch':>5} | {'ffnn ms/ep':>10} {'torch ms/ep':>11} {'ffnn/torch':>10}"
          f" | {'MFLOP/smp':>9} {'ffnn GF/s':>9} {'torch GF/s':>10}", flush=True)
    rows = []
    for label, sizes, b in cells:
        net = C.Net(label, sizes, "relu", (b,))
        flops = net.flops_per_sample()["total"]
        f = C.FfnnTrainer(net, b, X, y)
        runners = {"ffnn": f.epoch}
        if have_torch:
            t = C.TorchTrainer(net, b, X, y, ffnn_model=f.model)
            runners["torch"] = t.epoch
        # steps per block: enough for ~min_block of ffnn work, capped by the data size
        step_t = C.timed(f.epoch, np.arange(2 * b)) / 2
        steps = int(max(2, min(len(X) // b, math.ceil(args.min_block / max(step_t, 1e-9)))))
        ps = interleave({k: (fn, steps * b) for k, fn in runners.items()}, len(X), steps * b,
                        args.scale_repeats, 0.0, args.pause, rng)
        epoch_samples = 8192
        row = {"cell": label, "arch": "-".join(map(str, sizes)), "batch": b, "flops_per_sample": flops,
               "ffnn_ms_per_epoch": med(ps["ffnn"]) * epoch_samples * 1e3,
               "ffnn_gflops": flops / med(ps["ffnn"]) / 1e9}
        if "torch" in ps:
            row.update({"torch_ms_per_epoch": med(ps["torch"]) * epoch_samples * 1e3,
                        "torch_gflops": flops / med(ps["torch"]) / 1e9,
                        "ffnn_vs_torch": paired_ratio(ps["ffnn"], ps["torch"])})
        rows.append(row)
        g = row.get
        print(f"{label:<16} {row['arch']:<20} {b:>5} | {g('ffnn_ms_per_epoch'):>10,.1f} "
              f"{_fmt(g('torch_ms_per_epoch'), '{:,.1f}'):>11} {_fmt(g('ffnn_vs_torch'), '{:.2f}x'):>10}"
              f" | {flops / 1e6:>9.2f} {g('ffnn_gflops'):>9.1f} {_fmt(g('torch_gflops'), '{:.1f}'):>10}", flush=True)
    results["scaling"] = {"epoch_samples": 8192, "rows": rows}


def profile_ffnn(args, X, y, results):
    """Per-phase wall time of the ffnn step (an instrumented copy of the fit inner loop).

    After each step the same step's GEMMs are run alone (same shapes and layouts, the
    GemmOnly buffers) and timed, so "of which GEMM" shares the machine state of the phase.
    """
    from ffnn import layers
    prof = {}
    for key in args.nets:
        net = C.NETS[key]
        for b in net.batches:
            f = C.FfnnTrainer(net, b, X, y)
            model, loss, opt, gather = f.model, f.loss, f.opt, f.gather
            L = model.layers
            names = (["gather"] + [f"fwd {i} {type(l).__name__}" for i, l in enumerate(L)]
                     + ["loss fwd", "loss bwd"]
                     + [f"bwd {i} {type(L[i]).__name__}" for i in range(len(L) - 1, -1, -1)] + ["SGD step"])
            gonly = C.GemmOnly(net, b, X)
            ops = iter(gonly.ops)
            gemm_ops = {}
            for k, i in enumerate(i for i, l in enumerate(L) if isinstance(l, layers.Linear)):
                gemm_ops[f"fwd {i} Linear"] = [next(ops)]
                gemm_ops[f"bwd {i} Linear"] = [next(ops)] + ([next(ops)] if k > 0 else [])
            acc = dict.fromkeys(names, 0.0)
            gacc = dict.fromkeys(gemm_ops, 0.0)
            steps = max(20, min(len(X) // b, 400))
            rng = np.random.default_rng(0)
            pc = time.perf_counter
            mm = np.matmul
            for rep in range(2):                       # first pass = warm-up
                acc = dict.fromkeys(names, 0.0)
                gacc = dict.fromkeys(gemm_ops, 0.0)
                perm = np.concatenate([rng.permutation(len(X)) for _ in range(-(-steps * b // len(X)))])
                for s in range(steps):
                    idx = perm[s * b:(s + 1) * b]
                    t0 = pc()
                    xb, yb = gather(idx), y[idx]
                    t1 = pc(); acc["gather"] += t1 - t0
                    x = xb
                    for i, l in enumerate(L):
                        x = l.forward(x)
                        t2 = pc(); acc[names[1 + i]] += t2 - t1; t1 = t2
                    loss.forward(x, yb)
                    t2 = pc(); acc["loss fwd"] += t2 - t1; t1 = t2
                    g = loss.backward()
                    t2 = pc(); acc["loss bwd"] += t2 - t1; t1 = t2
                    for i in range(len(L) - 1, -1, -1):
                        l = L[i]
                        if i == 0 and isinstance(l, layers.Linear):
                            l.backward(g, input_grad=False)
                        else:
                            g = l.backward(g)
                        t2 = pc(); acc[f"bwd {i} {type(l).__name__}"] += t2 - t1; t1 = t2
                    opt.step()
                    acc["SGD step"] += pc() - t1
                    for k, group in gemm_ops.items():
                        t1 = pc()
                        for a, b_, out in group:
                            mm(a, b_, out=out)
                        gacc[k] += pc() - t1
            total = sum(acc.values()) / steps
            gemm_total = sum(gacc.values()) / steps
            rows = []
            print(f"\nnet {key} batch {b}: {total * 1e6:,.1f} us/step "
                  f"({b / total:,.0f} samples/s instrumented, {steps} steps)")
            print(f"  {'phase':<16} {'us/step':>9} {'share':>6} {'GEMM alone':>11} {'non-GEMM':>9}")
            for k in names:
                us = acc[k] / steps * 1e6
                gm = gacc[k] / steps * 1e6 if k in gacc else None
                rows.append({"phase": k, "us_per_step": us, "gemm_us": gm})
                extra = "" if gm is None else f"{gm:>8.1f} us {us - gm:>9.1f}"
                print(f"  {k:<16} {us:>9.1f} {us / (total * 1e6):>6.1%} {extra}")
            print(f"  GEMMs alone: {gemm_total * 1e6:,.1f} us = {gemm_total / total:.0%} of the step; "
                  f"everything else {(total - gemm_total) * 1e6:,.1f} us")
            prof[f"{key}{b}"] = {"us_per_step": total * 1e6, "gemm_us": gemm_total * 1e6, "phases": rows}
    results["profile"] = prof


# --------------------------------------------------------------------------- targets
def evaluate_targets(results):
    rows = results.get("throughput", [])
    out = {}

    def put(key, value, shown, ok):
        out[key] = {"text": TARGETS_TEXT[key], "value": value, "shown": shown,
                    "status": "PASS" if ok else "MISS"}

    for other in ("torch", "jax"):
        cells = {f"{r['net']}{r['batch']}": r[f"ffnn_vs_{other}"] for r in rows if f"ffnn_vs_{other}" in r}
        if cells:
            worst = min(cells, key=cells.get)
            below = [k for k, v in cells.items() if v < 1.0]
            put(f"vs_{other}", cells, f"min {cells[worst]:.2f}x ({worst})"
                + (f"; below 1: {', '.join(below)}" if below else ""), not below)
    cells = {f"B{r['batch']}": r["ffnn_vs_gemm"] for r in rows if r["net"] == "B" and r["batch"] >= 128}
    if cells:
        put("B_vs_gemm", cells, ", ".join(f"{k} {v:.0%}" for k, v in cells.items()),
            all(v >= 0.80 for v in cells.values()))
    m = results.get("memory")
    if m and "torch" in m:
        f_, t_ = m["ffnn"]["training_peak_mb"], m["torch"]["training_peak_mb"]
        put("B_memory", [f_, t_], f"{f_:.1f} MB vs {t_:.1f} MB", f_ < t_)
    o = results.get("fit_overhead")
    if o:
        put("fit_overhead", o["overhead"], f"{o['overhead']:+.1%}", o["overhead"] <= 0.15)
    results["targets"] = out
    return out


# --------------------------------------------------------------------------- main
def _have(mod):
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smaller data, fewer repeats (a smoke run, ~1-2 min)")
    p.add_argument("--threads", type=int, default=2, help="BLAS / intra-op threads for every library (default 2)")
    p.add_argument("--nets", default="A,B,C", help="comma-separated subset of A,B,C")
    p.add_argument("--json", metavar="OUT", help="write machine-readable results to OUT")
    p.add_argument("--repeats", type=int, help="interleaved repeats per cell (default 5, quick 3)")
    p.add_argument("--samples", type=int, help="training samples (default 8192, quick 2048)")
    p.add_argument("--pause", type=float, default=0.2, help="seconds of idle between timed blocks")
    p.add_argument("--no-sklearn", dest="sklearn", action="store_false", help="skip scikit-learn")
    p.add_argument("--no-jax", dest="jax", action="store_false", help="skip JAX")
    p.add_argument("--skip", default="", help="comma-separated sections to skip: memory,scaling,overhead")
    p.add_argument("--no-torch-gemm", dest="torch_gemm", action="store_false",
                   help="skip timing the same GEMMs through torch.mm (PyTorch's BLAS)")
    p.add_argument("--profile", action="store_true", help="also print a per-phase profile of the ffnn step")
    p.add_argument("--_mem-child", dest="mem_child", help=argparse.SUPPRESS)
    p.add_argument("--mem-steps", type=int, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.nets = [n.strip().upper() for n in a.nets.split(",") if n.strip()]
    bad = [n for n in a.nets if n not in C.NETS]
    if bad:
        p.error(f"--nets: unknown net(s) {bad}; choose from A,B,C")
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    if a.quick:   # a smoke run: the throughput table only, sklearn off
        a.skip |= {"scaling", "memory"}
        a.sklearn = False
    a.repeats = a.repeats or (3 if a.quick else 5)
    a.samples = a.samples or (2048 if a.quick else 8192)
    a.mem_steps = a.mem_steps or (48 if a.quick else 192)
    a.min_block = 0.08 if a.quick else 0.25
    a.scale_repeats = 2 if a.quick else 3
    a.widths = (256, 1024, 4096)
    a.scale_batches = (16, 128, 1024)
    return a


def main(argv=None):
    args = parse_args(argv)
    if args.mem_child:
        return mem_child(args.mem_child, args)
    C.jax_threads_flags(args.threads)   # before anything imports jax
    C.pin_threads(args.threads)
    started = time.time()
    info = C.machine_info()
    results = {"command": " ".join([os.path.basename(sys.executable)] + sys.argv),
               "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
               "machine": info, "threads": args.threads, "samples": args.samples,
               "repeats": args.repeats, "quick": args.quick}
    print(f"ffnn throughput benchmark  {results['date']}")
    print(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs; python {info['python']}, "
          f"numpy {info['numpy']} ({info['numpy_blas']}), torch {info.get('torch')}, "
          f"jax {info.get('jax')}, sklearn {info.get('sklearn')}")
    for pool in info["threadpools"]:
        print("  threadpool: " + ", ".join(f"{k}={v}" for k, v in pool.items()))
    print(f"  OpenBLAS kernel (numpy): {C.openblas_arch()}; threads pinned to {args.threads} "
          f"(torch.get_num_threads() = {info.get('torch_threads')}"
          + (f"; XLA CPU threads: {C.jax_threads(args.threads)})" if info.get("jax") else ")"))
    set_env = {k: v for k, v in info["env"].items() if k in C.OPENBLAS_ENV}
    if set_env:
        print(f"  WARNING: {set_env} set in the environment; they can select a slower OpenBLAS kernel. "
              "Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/throughput.py")
    else:
        print("  OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: not set")
    other = {k: v for k, v in info["env"].items() if k not in C.OPENBLAS_ENV}
    if other:
        print(f"  thread env: {other}")
    try:
        load = os.getloadavg()
        results["loadavg_start"] = load
        print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
              f"(> ~0.5 means other work shares the CPUs: absolute numbers are then unreliable)")
    except OSError:
        pass
    print(f"data: {args.samples} x 784 float32, 10 classes; SGD lr=0.01 momentum=0.9; "
          f"{args.repeats} interleaved repeats, pause {args.pause}s\n")

    X, y = C.make_data(args.samples)
    rng = np.random.default_rng(1234)

    if _have("torch"):
        agree = check_agreement(X, y, args.jax and _have("jax"))
        results["agreement"] = agree
        print(f"ffnn vs torch, same weights: forward max |diff| {agree['forward_max_abs_diff']:.2e}, "
              f"after one step weight max |diff| {agree['weight_after_step_max_abs_diff']:.2e}"
              + (f"; ffnn vs jax after one step {agree['jax_weight_after_step_max_abs_diff']:.2e}"
                 if "jax_weight_after_step_max_abs_diff" in agree else "") + "\n")

    print("== Throughput (samples/s, median; ratios = paired medians; GEMM-lim = the step's GEMMs alone "
          "through np.matmul;\n   jax = jax.jit of the whole step; torchGEMM = speed of the same GEMMs "
          "through torch.mm relative to np.matmul) ==")
    print(NET_HEADER)
    bench_nets(args, X, y, rng, results)

    if "overhead" not in args.skip and "B" in args.nets:
        print("\n== Loop overhead: ffnn.fit (1 epoch, progress=False) vs the bare step loop ==")
        bench_fit_overhead(args, X, y, rng, results)
    if "memory" not in args.skip:
        print("\n== Peak memory, net B batch 128 (fresh subprocess each; ru_maxrss minus the "
              "baseline of interpreter + library + data) ==")
        bench_memory(args, results)
    if "scaling" not in args.skip:
        print(f"\n== Scaling (ReLU, ms per {8192}-sample epoch; constant GF/s = cost linear in FLOPs) ==")
        bench_scaling(args, X, y, rng, results)
    if args.profile:
        print("\n== Profile of the ffnn step (instrumented; per-phase wall time) ==")
        profile_ffnn(args, X, y, results)

    targets = evaluate_targets(results)
    print("\n== Targets (developer's machine, 2 threads, float32) ==")
    for t in targets.values():
        print(f"  {t['status']:<4}  {t['text']:<36} measured {t['shown']}")
    results["elapsed_s"] = time.time() - started
    try:
        results["loadavg_end"] = os.getloadavg()
    except OSError:
        pass
    loads = [results.get("loadavg_start", (0,))[0], results.get("loadavg_end", (0,))[0]]
    results["under_load"] = loads[0] > 0.5 or loads[1] > args.threads + 0.5
    if results["under_load"]:
        print(f"\nWARNING: 1-min load average {loads[0]:.2f} at start, {loads[1]:.2f} at end (this run adds "
              f"up to {args.threads}): other processes shared the CPUs, so these figures are noisy; "
              "re-run on an idle machine before quoting them.")
    print(f"\nelapsed {results['elapsed_s']:.0f} s")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, default=str)
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
