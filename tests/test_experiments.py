"""Every experiment runs (quick mode), holds all of its claims and writes its PNG figures."""

from __future__ import annotations

import importlib.util

import pytest

from ffnn.experiments import EXPERIMENTS, Claim, ExperimentResult, run
from ffnn.errors import ConfigError

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_experiment_passes_and_saves_figures(name, tmp_path):
    lines: list[str] = []
    result = EXPERIMENTS[name].run(tmp_path, quick=True, seed=0, print_fn=lines.append)
    assert isinstance(result, ExperimentResult)
    assert result.claims and all(isinstance(c, Claim) for c in result.claims)
    failed = [f"{c.description}: {c.measured}" for c in result.claims if not c.passed]
    assert result.passed, "\n".join(failed)
    text = "\n".join(lines)
    assert text.count("PASS  ") == len(result.claims)
    assert "measured:" in text
    if HAVE_MPL:
        assert result.figures, "no figure written"
        for path in result.figures:
            assert path.exists() and path.suffix == ".png" and path.parent == tmp_path
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_registry_entries_have_name_and_one_line_title():
    for name, exp in EXPERIMENTS.items():
        assert exp.name == name
        assert exp.title and "\n" not in exp.title


def test_no_figures_without_out_dir():
    result = EXPERIMENTS["softmax-limits"].run(None, quick=True, print_fn=lambda *a: None)
    assert result.passed and result.figures == []


def test_failed_claim_makes_result_fail():
    r = ExperimentResult("x", "t", claims=[Claim("a", True, "1"), Claim("b", False, "2")])
    assert not r.passed
    assert not ExperimentResult("x", "t").passed        # no claims: nothing verified


def test_unknown_experiment_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown experiment"):
        run("no-such-experiment")


def test_every_listed_experiment_is_implemented():
    import ffnn.experiments as experiments
    assert not hasattr(experiments, "PLANNED")
    for name in ("playground", "robust-loss", "binary-output-layer", "init-and-lr"):
        assert name in EXPERIMENTS
    assert list(EXPERIMENTS)[0] == "xor" and list(EXPERIMENTS)[-1] == "init-and-lr"


def test_binary_output_layer_weights_encode_digits():
    from ffnn.experiments import binary_output_layer as bol
    import numpy as np
    layer = bol.code_layer()
    assert layer.weight.value.shape == (4, 10)
    # the sign pattern of column d is digit d's code, bit 0 first
    for d in range(10):
        bits = (layer.weight.value[:, d] > 0).astype(int)
        assert int(sum(b << j for j, b in enumerate(bits))) == d
    corners, digits = bol.premise_corners()
    assert corners.shape == (10 * 2 ** 10, 10)
    assert np.all(corners[np.arange(len(digits)), digits] >= bol.HI)


def test_init_and_lr_expected_lrs_formulas():
    from ffnn.experiments import init_and_lr as il
    from ffnn.train import History
    h = History()
    for e, v in enumerate([1.0, 0.9, 0.9, 0.5, 0.49], start=1):
        h.append({"epoch": e, "val_loss": v})
    assert il.expected_lrs("constant", h) == [il.LR0] * 5
    assert il.expected_lrs("step (halve every 2)", h) == [0.1, 0.1, 0.05, 0.05, 0.025]
    assert il.expected_lrs("a / (b + t)", h) == [il.A / (il.B + t) for t in range(5)]
    # plateau (threshold 5 %): 0.9 improves on 1.0, 0.9 does not (halve), 0.5 does, 0.49 does not
    assert il.expected_lrs("reduce on plateau", h) == [0.1, 0.1, 0.1, 0.05, 0.05]


def test_robust_loss_flips_only_training_labels():
    from ffnn.experiments import robust_loss as rl
    import numpy as np
    X, y, Xt, yt, flip = rl.noisy_circle(0, 0.2)
    X0, y0, Xt0, yt0, flip0 = rl.noisy_circle(0, 0.0)
    assert len(flip0) == 0 and len(flip) == round(0.2 * len(y))
    assert np.array_equal(yt, yt0) and np.array_equal(X, X0)
    assert np.array_equal(y[flip], 1 - y0[flip])
    keep = np.setdiff1d(np.arange(len(y)), flip)
    assert np.array_equal(y[keep], y0[keep])
