"""The course's claims, reproduced numerically: one module per exercise.

Each experiment prints what it verifies with the measured numbers and a PASS/FAIL line per
claim, saves its figures as PNG (when an output directory is given and matplotlib is
installed), and returns an :class:`ExperimentResult` whose ``passed`` is True only when every
claim holds.

>>> from ffnn.experiments import EXPERIMENTS
>>> EXPERIMENTS["xor"].title
'XOR: linear models fail, a 2-2-1 network and the hand-set ReLU net solve it'

Registry API (the ``ffnn experiment`` command calls exactly this)::

    EXPERIMENTS: dict[str, Experiment]
    Experiment.name, Experiment.title
    Experiment.run(out_dir=None, *, quick=False, seed=0, print_fn=print) -> ExperimentResult
    ExperimentResult.claims (list of Claim(description, passed, measured)), .figures, .passed

The modules are imported only when an experiment runs, so listing them is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from ._report import Claim, ExperimentResult

__all__ = ["EXPERIMENTS", "Experiment", "ExperimentResult", "Claim", "run"]


@dataclass(frozen=True)
class Experiment:
    """One reproduced exercise: ``name`` (CLI name), ``title`` (one line), ``module``."""

    name: str
    title: str
    module: str

    def run(self, out_dir: Path | str | None = None, *, quick: bool = False, seed: int = 0,
            print_fn: Callable[..., None] = print) -> ExperimentResult:
        """Run the experiment; figures go to ``out_dir`` (None: no figures are written).

        ``quick=True`` uses smaller sizes (for the test suite); the claims are the same.
        """
        mod = import_module(f".{self.module}", __name__)
        out = None if out_dir is None else Path(out_dir)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
        return mod.run(out, quick=quick, seed=seed, print_fn=print_fn, name=self.name, title=self.title)


_LIST = [
    ("xor", "XOR: linear models fail, a 2-2-1 network and the hand-set ReLU net solve it", "xor"),
    ("bishop-5.3", "Bishop fig. 5.3: a 1-3-1 tanh network fits x^2, sin(pi x), |x| and a step",
     "bishop53"),
    ("playground", "TensorFlow Playground: learning rate, L2 rate and a second hidden layer",
     "playground"),
    ("vanishing-gradients", "Per-layer gradient norms through 6 hidden layers: sigmoid vs tanh vs ReLU",
     "vanishing_gradients"),
    ("weight-symmetries", "The 2^M M! sign-flip and permutation symmetries of a tanh network",
     "weight_symmetries"),
    ("perceptron-scaling", "Scaling a perceptron network's weights by c > 0; sigmoid nets approach it",
     "perceptron_scaling"),
    ("binary-output-layer", "Nielsen ch. 1: an extra layer turning 10-way digit outputs into 4-bit codes",
     "binary_output_layer"),
    ("softmax-limits", "Softmax: the argmax limit, shift invariance, K=2 equals the logistic sigmoid",
     "softmax_limits"),
    ("max-likelihood", "Maximum likelihood: Gaussian gives sum-of-squares (and sigma^2), categorical "
     "gives cross-entropy", "max_likelihood"),
    ("robust-loss", "Flipped training labels: robust binary cross-entropy vs plain", "robust_loss"),
    ("sgd-unbiased", "The minibatch gradient is an unbiased estimate of the full-batch gradient",
     "sgd_unbiased"),
    ("momentum-rosenbrock", "Gradient descent vs momentum, Nesterov and Adam on the Rosenbrock function",
     "momentum_rosenbrock"),
    ("backprop-by-hand", "Backprop by hand (Aalto): formula gradients vs the library vs finite differences",
     "backprop_by_hand"),
    ("init-and-lr", "Initialisation (Gaussian 0.01, Xavier, He) and learning-rate schedules on mnist-5k",
     "init_and_lr"),
]

EXPERIMENTS: dict[str, Experiment] = {name: Experiment(name, title, module) for name, title, module in _LIST}
"""Every experiment by name, in the course's order."""


def run(name: str, out_dir: Path | str | None = None, **kwargs) -> ExperimentResult:
    """Run the experiment called ``name`` (see :data:`EXPERIMENTS`)."""
    from ..errors import ConfigError
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; expected one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name].run(out_dir, **kwargs)
