"""Ctrl-C (SIGINT) sent to a running `swb sweep ... --out --csv --apply best` at several moments: the process ends
cleanly with exit 130 (never a crash, never a traceback), and what it leaves is either nothing or whole files: a
save that restores with the configurations done, a CSV with one row each, the best of them applied."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from device import DEVICE

import swb
from swb.sweep.results import read_sweep_layer

# A process that ends on Ctrl-C exits with status 130; Python may instead end itself by the signal (-2), which a
# shell shows as 130 too.
INTERRUPTED = (130, -signal.SIGINT)

SPEC = Path(str(swb.bundled_scene("scan_tunnel"))).with_name("scan_tunnel_sweep.toml")


class _Sweep:
    """A `swb sweep` subprocess whose stderr lines can be waited for."""

    def __init__(self, scene: Path, out: Path, tmp: Path, samples: int = 200_000) -> None:
        self.stdout = (tmp / "stdout.txt").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swb.cli", "sweep", str(scene), "--spec", str(SPEC), "--samples", str(samples),
             "--chunk", "16", "--out", str(out), "--csv", "--apply", "best", "--device", DEVICE],
            stdout=self.stdout, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 240.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self._queue.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"never saw {text!r}; stderr so far:\n" + "\n".join(self.lines))

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def finish(self) -> int:
        code = self.proc.wait(timeout=300)
        while (line := self._queue.get(timeout=10)) is not None:
            self.lines.append(line)
        self.stdout.close()
        return code


@pytest.fixture()
def tunnel(tmp_path):
    path = tmp_path / "scan_tunnel.usda"
    shutil.copy(swb.bundled_scene("scan_tunnel"), path)
    return path


def test_ctrl_c_while_loading_writes_nothing(tunnel, tmp_path):
    out = tmp_path / "out"
    run = _Sweep(tunnel, out, tmp_path)
    run.wait_for("[swb] loading")
    run.interrupt()
    code = run.finish()
    err = "\n".join(run.lines)
    assert code in INTERRUPTED, err
    assert "Traceback" not in err and "interrupt" in err
    assert not out.exists() or list(out.iterdir()) == []


def _check_outputs(out: Path, n_done: int, err: str) -> None:
    """Whole files: no temporary left, a CSV row per configuration done, a save that restores them, a verified
    applied stage."""
    names = sorted(p.name for p in out.iterdir())
    assert not [n for n in names if n.startswith(".")], names
    csv = (out / "scan_tunnel.tunnel.csv").read_text().splitlines()
    assert len(csv) == n_done + 1
    again = swb.restore(out / "scan_tunnel.swb.usda", device=DEVICE)
    assert len(read_sweep_layer(again.sweep_layer, "tunnel")["values"]) == n_done
    assert "reproduces" in err  # the applied configuration was verified against the sweep
    best = swb.open(out / "scan_tunnel.tunnel.best.usda", device=DEVICE)
    assert best.evaluate().pairs.decodable.shape == (8, 30)


def test_ctrl_c_while_sweeping_keeps_whole_results_and_applies_the_best_done(tunnel, tmp_path):
    """First Ctrl-C mid-sweep: the configurations done are kept and the best of them applied; a second one while
    the files are written waits for them to be whole."""
    out = tmp_path / "out"
    run = _Sweep(tunnel, out, tmp_path)
    run.wait_for("configurations")  # the first chunk is done
    run.interrupt()
    done_line = run.wait_for("configurations evaluated")
    run.wait_for("--apply best: configuration")  # the files are being written now
    run.interrupt()
    code = run.finish()
    err = "\n".join(run.lines)
    assert code == 130, err
    assert "Traceback" not in err and "each is whole" in err
    n_done = int(done_line.split("interrupted: ")[1].split(" of ")[0].replace(",", ""))
    assert 0 < n_done < 200_000
    _check_outputs(out, n_done, err)


def test_ctrl_c_after_the_sweep_finished_writes_everything_first(tunnel, tmp_path):
    out = tmp_path / "out"
    run = _Sweep(tunnel, out, tmp_path, samples=600)
    run.wait_for("600/600 configurations")
    run.interrupt()
    code = run.finish()
    err = "\n".join(run.lines)
    assert code == 130 and "Traceback" not in err and "each is whole" in err, err
    _check_outputs(out, 600, err)
