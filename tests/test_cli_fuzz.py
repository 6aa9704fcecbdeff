"""Hypothesis feeds random argument lists to ``ffnn.cli.main``, for every command.

The argument lists are built from the parser's real option names (and positional
arguments) with values drawn from awkward ones: negative, zero, huge, not numbers, empty,
unknown names, missing and corrupt files. Whatever comes in, ``main`` must end in one of
the documented ways: a return code 0, 1 (gradcheck FAIL, experiment not reproduced), 2 (a
user error: exactly one ``ffnn: error:`` line on stderr) or 130, or argparse's
``SystemExit`` with 0 (``--help``) or 2 (one line too); never a traceback.

The data are tiny (xor, at most a few dozen points, a few epochs), the playground's server
is replaced by a stand-in (its address is still checked) and nothing is downloaded, so the
whole file runs in about a minute.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ffnn import cli  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore")

AWKWARD = ["0", "1", "2", "-1", "3", "0.5", "-0.5", "nan", "inf", "-inf", "1e309", "1e-12", "", " ", "abc", "1,2",
           "2,,3", "0x10", "10000000", "99999999999999999999", "-", "--", "\u00e9", "none", "relu", "xor", "ce"]
SMALL_INTS = ["0", "1", "2", "3", "-1", "abc", "", "1.5", "99999999999999999999"]
OPTION_VALUES = {
    # options whose large values would make a run long: only small or invalid values
    "--epochs": SMALL_INTS, "--n": ["8", "20", "1", "0", "-4", "x", "1e3"], "--early-stopping": SMALL_INTS,
    "--samples": SMALL_INTS, "--features": SMALL_INTS + ["x1,x2,x1^2", "sin(x1)", "x3", "x1,,x2"],
    "--classes": SMALL_INTS, "--outputs": SMALL_INTS, "--checkpoint-every": SMALL_INTS,
    "--batch-size": ["1", "4", "0", "-2", "x", "100000000000"],
    "--hidden": ["0", "1", "3,2", "2,2,2", "-1", "a", "1,,2", "", "10000000", "1e3"],
    "--data": ["xor", "spiral", "circle", "bishop-sin", "no-such-set", "missing.csv", "FILE:bad.csv",
               "FILE:good.csv", "FILE:corrupt.ffnn", ""],
    "--config": ["FILE:bad.toml", "FILE:good.toml", "missing.toml", "FILE:corrupt.ffnn"],
    "--resume": ["FILE:.", "missing-run", "FILE:good.csv"],
    "--out": ["OUT", "FILE:good.csv", "FILE:good.csv/sub", "OUT"],
    "--onnx": ["OUT.onnx", "FILE:good.csv/x.onnx"],
    "--host": ["127.0.0.1", "::1", "0.0.0.0", "1.2.3.4", "", "localhost"],
    "--port": ["0", "1", "99999", "-1", "abc", "PORT"],
}
POSITIONAL_VALUES = {
    "model": ["FILE:model.ffnn", "FILE:corrupt.ffnn", "FILE:good.csv", "missing.ffnn", "FILE:.", ""],
    "input": ["FILE:good.csv", "FILE:bad.csv", "FILE:points.npz", "FILE:corrupt.ffnn", "missing.csv", "FILE:."],
    "action": ["list", "info", "download", "nope"],
    "name": ["xor", "spiral", "no-such-set", "list", "nonexistent-experiment", ""],
}
SKIP_OPTIONS = {"--help", "-h", "--version", "--distributed", "--debug"}   # mpirun; --debug lets errors through
FORBIDDEN = {("data", "download"): {"mnist", "fashion-mnist"}}   # no network


def _subcommands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def _spec(command, parser):
    options, positionals = [], []
    for action in parser._actions:
        if not action.option_strings:
            positionals.append(action.dest)
            continue
        name = max(action.option_strings, key=len)
        if name in SKIP_OPTIONS:
            continue
        takes_value = action.nargs != 0
        values = OPTION_VALUES.get(name) or ([*action.choices, "bogus"] if action.choices else AWKWARD)
        options.append((name, takes_value, [str(v) for v in values]))
    return options, positionals


SPECS = {command: _spec(command, parser) for command, parser in _subcommands().items()}


@st.composite
def argument_lists(draw, command):
    options, positionals = SPECS[command]
    argv = [command]
    for dest in positionals:
        if draw(st.integers(0, 9)) > 0:                  # now and then leave one out
            argv.append(draw(st.sampled_from(POSITIONAL_VALUES.get(dest, AWKWARD))))
    for name, takes_value, values in draw(st.lists(st.sampled_from(options), max_size=5)) if options else []:
        argv.append(name)
        if takes_value and draw(st.integers(0, 19)) > 0:  # now and then the value is missing
            argv.append(draw(st.sampled_from(values)))
    if command == "train":                               # keep runs small unless the fuzz says otherwise
        if "--data" not in argv:
            argv += ["--data", "xor"]
        if "--n" not in argv:
            argv += ["--n", "24"]
        if "--epochs" not in argv:
            argv += ["--epochs", "1"]
        argv += ["--no-progress", "--no-plots"]
    if command == "experiment" and "--quick" not in argv:
        argv.append("--quick")
    if command == "playground":
        argv.append("--no-browser")
    return argv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A small trained model and good and bad input files, shared by every example."""
    root = tmp_path_factory.mktemp("fuzz-files")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    np.savetxt(root / "good.csv", np.column_stack([X, (X[:, 0] > 0).astype(int)]), delimiter=",",
               header="x1,x2,label", comments="")
    (root / "bad.csv").write_text("x1,x2,label\n1,2\nfoo,bar,baz\n\n1,2,3,4\n")
    (root / "good.toml").write_text("[train]\nhidden = '3'\nepochs = 1\n")
    (root / "bad.toml").write_text("[train\nhidden = = 3\n")
    (root / "corrupt.ffnn").write_bytes(rng.bytes(600))
    np.savez(root / "points.npz", X=X)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli.main(["train", "--data", "xor", "--n", "40", "--hidden", "3", "--epochs", "1", "--no-progress",
                         "--no-plots", "--out", str(root / "run")])
    assert code == 0, out.getvalue()
    os.replace(root / "run" / "model.ffnn", root / "model.ffnn")
    return root


def _materialize(argv, files, work):
    resolved = []
    for arg in argv:
        if arg.startswith("FILE:"):
            arg = str(files / arg[5:])
        elif arg in ("OUT", "OUT.onnx"):
            arg = str(work / "out" / ("model.onnx" if arg == "OUT.onnx" else f"run{len(os.listdir(work))}"))
        elif arg == "PORT":
            arg = "8765"
        resolved.append(arg)
    return resolved


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:                     # argparse: --help (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def stand_ins(monkeypatch):
    """The playground's server and browser replaced (its address check still runs)."""
    import webbrowser
    monkeypatch.setattr(webbrowser, "open", lambda *a, **k: True)
    uvicorn = pytest.importorskip("uvicorn")
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: None)


def _check(argv, files, tmp_path_factory):
    for (command, action), names in FORBIDDEN.items():
        if argv[:2] == [command, action] and any(a in names for a in argv):
            return
    work = tmp_path_factory.mktemp("fuzz")
    with contextlib.chdir(work):                    # a run without --out goes to work/runs/
        code, stdout, stderr = _run(_materialize(argv, files, work))
    assert code in (0, 1, 2, 130), (argv, code, stderr)
    assert "Traceback" not in stderr, (argv, stderr)
    staging = [str(p) for p in work.rglob("*.ffnn-run")]
    assert not staging, (argv, code, stderr, staging)   # a failed run leaves no staging directory
    if code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ffnn: error:"), (argv, stderr)


FAST = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("command", sorted(c for c in SPECS if c != "train"))
def test_any_arguments_to_a_command_end_in_a_status_never_a_traceback(command, files, tmp_path_factory, stand_ins):
    @FAST
    @given(argument_lists(command))
    def run(argv):
        _check(argv, files, tmp_path_factory)

    run()


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(argv=argument_lists("train"))
def test_any_train_arguments_end_in_a_status_never_a_traceback(argv, files, tmp_path_factory):
    _check(argv, files, tmp_path_factory)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(argv=st.lists(st.sampled_from(["train", "evaluate", "--debug", "--version", "-h", "x", "--", "=", "--out",
                                      "--epochs", "1", "-1", "gradcheck", "data", "list"]), max_size=4))
def test_random_words_at_the_top_level(argv):
    if "train" in argv and "-h" not in argv and "--version" not in argv:
        return                                       # full training runs are the test above
    if "--debug" in argv:
        argv = [a for a in argv if a != "--debug"]   # --debug lets errors through, on purpose
    code, _, stderr = _run(argv)
    assert code in (0, 1, 2), (argv, code, stderr)
    assert "Traceback" not in stderr
    if code == 2 and stderr:
        assert len(stderr.strip().splitlines()) == 1, (argv, stderr)
