"""Time to accuracy: one training recipe in ffnn, PyTorch and JAX (issue #13).

Run from the repository root (see bench/README.md)::

    python bench/accuracy.py [--config configs/fashion-mnist.toml] [--frameworks ffnn,torch,jax]
        [--epochs N] [--threads 2] [--targets 0.88,0.89,0.91] [--json OUT]

The recipe (an ``ffnn train --config`` TOML file) is prepared once by ffnn
(:meth:`ffnn.recipe.Recipe.prepare`): the same data (all training images; the test split is
only evaluated), the same network and initial weights, loss, optimizer, per-epoch learning
rates, batch size, epochs, gradient clipping and image shifts then go to each framework:

- **ffnn**: the engine itself (``Run.trainer()``, one ``run_epoch`` per epoch);
- **PyTorch**: ``nn.Sequential`` of ``nn.Linear`` / ``nn.BatchNorm1d`` / ``nn.LayerNorm`` /
  ``nn.ReLU`` / ``nn.Dropout`` with ffnn's initial weights copied, ``nn.CrossEntropyLoss(
  label_smoothing=...)``, ``torch.optim.AdamW``/``Adam``/``SGD`` with weight decay on the
  weight matrices only (ffnn's ``decay`` flags), ``clip_grad_norm_``;
- **JAX**: the same network as pure functions, the whole step (forward, ``jax.grad``,
  ``optax`` update with ``clip_by_global_norm``, BatchNorm running statistics, dropout keys)
  compiled with ``jax.jit``; ``optax`` is required (``pip install optax``).

Each framework draws its own shuffles, dropout masks and shifts (the shifts with
:class:`ffnn.augment.RandomShift` on the host, for all three). The learning rate of each
epoch is the one ffnn's schedule gives, written into the other optimizers before the epoch.
After every epoch the test accuracy is measured (not timed). Printed per framework: the
training seconds (wall clock and process CPU) until the test accuracy first reached each
target, the final accuracy, and the total; ffnn first.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

from ffnn import catalog  # noqa: E402
from ffnn.parameter import Parameter  # noqa: E402
from ffnn.recipe import Recipe, Run  # noqa: E402

DEFAULT_CONFIG = C.REPO / "configs" / "fashion-mnist.toml"


@dataclass
class Curve:
    """Test accuracy after each epoch against cumulative training time."""

    name: str
    accuracy: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, accuracy: float, wall: float, cpu: float) -> None:
        self.accuracy.append(float(accuracy))
        self.wall.append((self.wall[-1] if self.wall else 0.0) + wall)
        self.cpu.append((self.cpu[-1] if self.cpu else 0.0) + cpu)

    def reached(self, target: float) -> tuple[float, float, int] | None:
        """(wall s, CPU s, epoch) at the end of the first epoch with accuracy >= target."""
        for i, acc in enumerate(self.accuracy):
            if acc >= target:
                return self.wall[i], self.cpu[i], i + 1
        return None


def timed_epoch(fn: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def shuffled_batches(run: Run, X: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(inputs, indices)`` minibatches in a new random order, the inputs augmented
    as the recipe says (the PyTorch and JAX loops; ffnn's engine does the same itself)."""
    order = rng.permutation(len(X))
    for start in range(0, len(X), run.recipe.batch_size):
        idx = order[start:start + run.recipe.batch_size]
        xb = X[idx]
        yield (xb if run.augment is None else run.augment(xb, rng)), idx


def train_epochs(curve: Curve, epochs: int, lr_of: Callable[[int], float], epoch: Callable[[float], None],
                 accuracy: Callable[[], float], log: Callable[[str], None]) -> Curve:
    """Time ``epoch(lr)`` for each epoch, then test; the curve records accuracy and cumulative time."""
    for e in range(epochs):
        lr = lr_of(e)
        wall, cpu = timed_epoch(lambda lr=lr: epoch(lr))
        acc = accuracy()
        curve.add(acc, wall, cpu)
        log(f"  {curve.name:<5} epoch {e + 1:>3}  test {acc:.4f}  {wall:6.1f}s  lr {lr:.3g}")
    return curve


def lr_curve(recipe: Recipe, lr: float) -> list[float]:
    """The learning rate of each epoch under the recipe's schedules (ffnn's, on a probe)."""
    probe = catalog.optimizer(recipe.optimizer, [Parameter(np.zeros(1))], lr, recipe.momentum, recipe.weight_decay)
    schedules = catalog.schedules(recipe.schedule, probe, recipe.epochs)
    rates = []
    for _ in range(recipe.epochs):
        rates.append(float(probe.lr))
        for s in schedules:
            s.step(0.0)
    return rates


def layer_specs(run: Run) -> list[tuple[str, dict[str, Any]]]:
    """The network as (kind, arguments and initial arrays), for the other frameworks."""
    specs = []
    for layer in run.model.layers:
        kind = type(layer).__name__
        if kind == "Linear":
            specs.append((kind, {"weight": layer.weight.value.copy(), "bias": layer.bias.value.copy()}))
        elif kind == "BatchNorm":
            specs.append((kind, {"n": layer.num_features, "momentum": layer.momentum, "eps": layer.eps}))
        elif kind == "LayerNorm":
            specs.append((kind, {"n": layer.num_features, "eps": layer.eps}))
        elif kind == "ReLU":
            specs.append((kind, {}))
        elif kind == "Dropout":
            specs.append((kind, {"p": layer.p}))
        else:
            raise SystemExit(f"bench/accuracy.py: no PyTorch/JAX twin for layer {kind}")
    return specs


# --------------------------------------------------------------------------- ffnn
def train_ffnn(run: Run, X_test: np.ndarray, y_test: np.ndarray, epochs: int, log: Callable[[str], None]) -> Curve:
    trainer = run.trainer()
    return train_epochs(Curve("ffnn"), epochs, lambda e: trainer.optimizer.lr,
                        lambda lr: trainer.run_epoch(run.X_train, run.y_train),
                        lambda: float(np.mean(run.model.predict(X_test).argmax(axis=1) == y_test)), log)


# --------------------------------------------------------------------------- PyTorch
def train_torch(run: Run, X_test: np.ndarray, y_test: np.ndarray, epochs: int, lrs: list[float],
                log: Callable[[str], None]) -> Curve:
    import torch
    from torch import nn

    recipe = run.recipe
    torch.manual_seed(recipe.seed)
    mods: list[nn.Module] = []
    decay, no_decay = [], []
    for kind, a in layer_specs(run):
        if kind == "Linear":
            m = nn.Linear(a["weight"].shape[1], a["weight"].shape[0])
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(a["weight"]))
                m.bias.copy_(torch.from_numpy(a["bias"]))
            decay.append(m.weight)
            no_decay.append(m.bias)
        elif kind == "BatchNorm":
            m = nn.BatchNorm1d(a["n"], eps=a["eps"], momentum=a["momentum"])
            no_decay += list(m.parameters())
        elif kind == "LayerNorm":
            m = nn.LayerNorm(a["n"], eps=a["eps"])
            no_decay += list(m.parameters())
        elif kind == "ReLU":
            m = nn.ReLU()
        else:
            m = nn.Dropout(a["p"])
        mods.append(m)
    model = nn.Sequential(*mods)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "adamw":
        opt: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=lrs[0])
    elif recipe.optimizer == "adam":
        opt = torch.optim.Adam(groups, lr=lrs[0])
    elif recipe.optimizer in ("momentum", "nesterov", "sgd"):
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=recipe.momentum if recipe.optimizer != "sgd" else 0.0,
                              nesterov=recipe.optimizer == "nesterov")
    else:
        raise SystemExit(f"bench/accuracy.py: no PyTorch twin for optimizer {recipe.optimizer}")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    X, y = run.X_train, run.y_train.astype(np.int64)
    Xt = torch.from_numpy(X_test)
    rng = np.random.default_rng(recipe.seed)
    curve = Curve("torch")

    def epoch(lr: float) -> None:
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        for xb, idx in shuffled_batches(run, X, rng):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(y[idx])).backward()
            if recipe.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad_norm)
            opt.step()

    def accuracy() -> float:
        model.eval()
        with torch.no_grad():
            return float((model(Xt).argmax(1).numpy() == y_test).mean())

    return train_epochs(curve, epochs, lrs.__getitem__, epoch, accuracy, log)


# --------------------------------------------------------------------------- JAX
def train_jax(run: Run, X_test: np.ndarray, y_test: np.ndarray, epochs: int, lrs: list[float],
              log: Callable[[str], None]) -> Curve:
    import jax
    import jax.numpy as jnp
    import optax

    recipe = run.recipe
    specs = layer_specs(run)
    params: list[dict[str, Any]] = []
    state: list[dict[str, Any]] = []
    for kind, a in specs:
        if kind == "Linear":
            params.append({"w": jnp.asarray(a["weight"]), "b": jnp.asarray(a["bias"])})
        elif kind in ("BatchNorm", "LayerNorm"):
            params.append({"g": jnp.ones(a["n"], jnp.float32), "b": jnp.zeros(a["n"], jnp.float32)})
        else:
            params.append({})
        state.append({"mean": jnp.zeros(a["n"], jnp.float32), "var": jnp.ones(a["n"], jnp.float32)}
                     if kind == "BatchNorm" else {})

    def forward(p: list, s: list, x: Any, key: Any, train: bool) -> tuple[Any, list]:
        new_state = []
        for (kind, a), pl, sl in zip(specs, p, s, strict=True):
            ns = sl
            if kind == "Linear":
                x = x @ pl["w"].T + pl["b"]
            elif kind == "BatchNorm":
                if train:
                    mean, var = x.mean(0), x.var(0)
                    n = x.shape[0]
                    m = a["momentum"]
                    ns = {"mean": (1 - m) * sl["mean"] + m * mean, "var": (1 - m) * sl["var"] + m * var * n / (n - 1)}
                else:
                    mean, var = sl["mean"], sl["var"]
                x = (x - mean) * jax.lax.rsqrt(var + a["eps"]) * pl["g"] + pl["b"]
            elif kind == "LayerNorm":
                mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
                x = (x - mean) * jax.lax.rsqrt(var + a["eps"]) * pl["g"] + pl["b"]
            elif kind == "ReLU":
                x = jax.nn.relu(x)
            elif train:                                   # Dropout
                key, sub = jax.random.split(key)
                keep = jax.random.bernoulli(sub, 1.0 - a["p"], x.shape)
                x = jnp.where(keep, x / (1.0 - a["p"]), 0.0)
            new_state.append(ns)
        return x, new_state

    n_classes = int(run.model.out_features or 0)
    eps_ls = recipe.label_smoothing

    def loss_fn(p: list, s: list, xb: Any, yb: Any, key: Any) -> tuple[Any, list]:
        logits, ns = forward(p, s, xb, key, True)
        target = optax.smooth_labels(jax.nn.one_hot(yb, n_classes), eps_ls) if eps_ls else jax.nn.one_hot(yb, n_classes)
        return optax.softmax_cross_entropy(logits, target).mean(), ns

    mask = [{k: k == "w" for k in pl} for pl in params]     # decay on the weight matrices only
    if recipe.optimizer == "adamw":
        base = optax.inject_hyperparams(optax.adamw)(learning_rate=lrs[0], weight_decay=recipe.weight_decay,
                                                     mask=mask)
    elif recipe.optimizer == "adam":
        base = optax.inject_hyperparams(optax.adam)(learning_rate=lrs[0])
    elif recipe.optimizer in ("momentum", "nesterov"):
        base = optax.inject_hyperparams(optax.sgd)(learning_rate=lrs[0], momentum=recipe.momentum,
                                                   nesterov=recipe.optimizer == "nesterov")
    else:
        raise SystemExit(f"bench/accuracy.py: no JAX twin for optimizer {recipe.optimizer}")
    tx = base if recipe.clip_grad_norm is None else optax.chain(optax.clip_by_global_norm(recipe.clip_grad_norm),
                                                                base)
    opt_state = tx.init(params)

    def set_lr(opt_state: Any, lr: float) -> Any:
        inner = opt_state if recipe.clip_grad_norm is None else opt_state[1]
        inner.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
        return opt_state

    @jax.jit
    def step(p: list, s: list, o: Any, xb: Any, yb: Any, key: Any) -> tuple[list, list, Any]:
        (_, ns), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, xb, yb, key)
        updates, o = tx.update(g, o, p)
        return optax.apply_updates(p, updates), ns, o

    predict = jax.jit(lambda p, s, x: forward(p, s, x, None, False)[0])
    X, y = run.X_train, run.y_train.astype(np.int32)
    Xt = jnp.asarray(X_test)
    rng = np.random.default_rng(recipe.seed)
    key = jax.random.PRNGKey(recipe.seed)
    curve = Curve("jax", note="optax " + optax.__version__)
    box = {"p": params, "s": state, "o": opt_state, "key": key}

    def epoch(lr: float) -> None:
        p, s, o, k = box["p"], box["s"], set_lr(box["o"], lr), box["key"]
        for xb, idx in shuffled_batches(run, X, rng):
            k, sub = jax.random.split(k)
            p, s, o = step(p, s, o, xb, y[idx], sub)
        jax.block_until_ready(p)
        box.update(p=p, s=s, o=o, key=k)

    return train_epochs(curve, epochs, lrs.__getitem__, epoch,
                        lambda: float((np.asarray(predict(box["p"], box["s"], Xt)).argmax(1) == y_test).mean()), log)


# --------------------------------------------------------------------------- report
def table(curves: list[Curve], targets: list[float]) -> str:
    head = ["framework"] + [f"s to {t:.2f} (epoch)" for t in targets] + ["final acc", "train s", "CPU s"]
    rows = [head]
    for c in curves:
        cells = [c.name]
        for t in targets:
            hit = c.reached(t)
            cells.append("not reached" if hit is None else f"{hit[0]:.0f} ({hit[2]})")
        cells += [f"{c.accuracy[-1]:.4f}", f"{c.wall[-1]:.0f}", f"{c.cpu[-1]:.0f}"]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths,
                                                                                                     strict=True)))
                     for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="an ffnn train TOML recipe [%(default)s]")
    ap.add_argument("--frameworks", default="ffnn,torch,jax")
    ap.add_argument("--epochs", type=int, help="train this many epochs [the recipe's]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--targets", default="0.88,0.89,0.91")
    ap.add_argument("--json", help="write the curves and the machine here")
    args = ap.parse_args(argv)

    if "jax" in args.frameworks:
        C.jax_threads_flags(args.threads)
    C.pin_threads(args.threads)
    recipe = Recipe.from_toml(Path(args.config).read_text(encoding="utf-8"), source=args.config)
    if args.epochs is not None:
        recipe = recipe.replace(epochs=args.epochs)
    run = recipe.prepare(source="bench/accuracy.py")
    X_test = run.X_test
    y_test = run.dataset.y_test
    lrs = lr_curve(recipe, run.lr)
    targets = [float(t) for t in args.targets.split(",")]
    info = C.machine_info()
    print(f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs, {args.threads} threads; "
          f"NumPy BLAS {info['numpy_blas']} ({C.openblas_arch()} kernel)")
    print(f"recipe: {recipe.to_command()}")
    print(f"data: {len(run.X_train):,} train / {len(X_test):,} test; {len(run.model)} layers, "
          f"{run.model.num_parameters():,} parameters")

    curves = []
    for name in args.frameworks.split(","):
        fresh = recipe.prepare(run.dataset, source="bench/accuracy.py")   # the same initial weights
        print(f"{name}:", flush=True)
        if name == "ffnn":
            curves.append(train_ffnn(fresh, X_test, y_test, recipe.epochs, print))
        elif name == "torch":
            curves.append(train_torch(fresh, X_test, y_test, recipe.epochs, lrs, print))
        elif name == "jax":
            curves.append(train_jax(fresh, X_test, y_test, recipe.epochs, lrs, print))
        else:
            raise SystemExit(f"unknown framework {name!r}; expected ffnn, torch or jax")
    print()
    print("seconds of training (wall clock; test evaluation not counted) until the test accuracy first "
          "reached each target, and the epoch")
    print(table(curves, targets))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "recipe": recipe.to_dict(), "targets": targets,
                                               "curves": [c.__dict__ for c in curves]}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
