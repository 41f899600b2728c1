"""``python -m autotape``: the fit runs, shows progress, prints the formula, loss and profile."""
import math
import os
import re
import subprocess
import sys

import pytest

from autotape.__main__ import main


def test_module_runs_in_a_subprocess():
    out = subprocess.run([sys.executable, "-m", "autotape", "--steps", "50"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert out.returncode == 0, out.stderr
    text = out.stdout
    # not a terminal: plain periodic lines, the last at the final step
    assert re.search(r"^step +5/50 +loss [0-9.e+]+$", text, re.M)
    assert re.search(r"^step 50/50 +loss [0-9.e+]+$", text, re.M)
    assert "\r" not in text
    m = re.search(r"^Result: y = (\S+) \+ (\S+) x \+ (\S+) x\^2 \+ (\S+) x\^3$", text, re.M)
    assert m and all(math.isfinite(float(v)) for v in m.groups())
    first = float(re.search(r"^step +5/50 +loss (\S+)$", text, re.M).group(1))
    final = float(re.search(r"^Final loss: (\S+)$", text, re.M).group(1))
    assert 0 < final < first  # it fitted
    for phase in ("forward (record)", "backward (replay)", "optimizer"):
        assert re.search(rf"^  {re.escape(phase)} +[0-9.]+s +[0-9.]+us +[0-9.]+%$", text, re.M), phase


@pytest.mark.parametrize("model", ["cubic", "legendre", "nn"])
def test_models_and_options(capsys, model):
    assert main(["--model", model, "--steps", "30", "--points", "200", "--dtype", "float64", "--lr", "1e-5"]) == 0
    text = capsys.readouterr().out
    assert "Result: y = " in text and "float64" in text and "lr=1e-05" in text
    losses = [float(v) for v in re.findall(r"^step +\d+/30 +loss (\S+)$", text, re.M)]
    assert len(losses) == 10 and losses[-1] < losses[0]


def test_progress_bar_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["--steps", "20", "--points", "100"]) == 0
    text = capsys.readouterr().out
    assert "\r[" in text and "100%  step 20/20" in text


def test_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "fit.png"
    assert main(["--steps", "10", "--points", "100", "--plot", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    assert main(["--steps", "10", "--plot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "needs matplotlib" in err and "pip install matplotlib" in err
    assert not (tmp_path / "x.png").exists()


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["--model", "quartic"])
    assert main(["--steps", "0"]) == 2
