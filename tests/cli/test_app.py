"""A run stopped by SIGTERM or SIGINT leaves no staging folder and exits with 128 + the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voxforge.cli.app import Terminated, exit_cleanly_on_signals
from voxforge.core.outputs import OutputDir

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")


@pytest.fixture
def heeded(request):
    """The signal under test is not ignored: a shell that starts a job in the background makes
    it ignore SIGINT, and ignored signals stay ignored (``test_ignored_signal_stays_ignored``)."""
    sig = request.param
    old = signal.getsignal(sig)
    if old is signal.SIG_IGN:
        signal.signal(sig, signal.default_int_handler)
    yield sig
    signal.signal(sig, old)


@POSIX
@pytest.mark.parametrize("heeded", [signal.SIGTERM, signal.SIGINT], indirect=True)
def test_signal_unwinds_through_output_dir(tmp_path, heeded):
    sig = heeded
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(Terminated) as info, exit_cleanly_on_signals():
        with OutputDir(tmp_path / "out") as od:
            od.path("half.txt").write_text("half-written")
            assert od.tmp is not None and od.tmp.is_dir()
            os.kill(os.getpid(), sig)
            time.sleep(5)  # the handler raises before this ends
    assert info.value.signum == sig
    assert list(tmp_path.iterdir()) == []  # no staging folder, no output
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored


@POSIX
def test_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with exit_cleanly_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)


@POSIX
def test_sigterm_mid_run_removes_the_staging_folder(tmp_path):
    """The real CLI in a subprocess, sent SIGTERM while its outputs are being written."""
    occ = np.zeros((10, 8, 8), np.uint8)
    occ[:, :, :3] = 1
    occ[2:8, 2:6, 3:8] = 1
    np.save(tmp_path / "box.npy", occ)
    (tmp_path / "cfg.yaml").write_text("classify: false\n")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    args = ["brickify", str(tmp_path / "box.npy"), "-o", str(out), "--width-studs", "10"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxforge", *args, "--config", str(tmp_path / "cfg.yaml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    staging: list[Path] = []
    deadline = time.monotonic() + 120
    while not staging and proc.poll() is None and time.monotonic() < deadline:
        staging = list(tmp_path.glob(".out.tmp-*"))
        time.sleep(0.01)
    assert staging, "the run ended before it wrote anything"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*")), "a staging folder was left behind"


@POSIX
def test_a_forked_worker_still_dies_of_sigterm():
    """Pools forked during a run keep the default: SIGTERM ends them, no Terminated inside."""
    with exit_cleanly_on_signals():
        pid = os.fork()
        if pid == 0:  # the child waits to be terminated
            try:
                time.sleep(30)
            finally:
                os._exit(3)  # reached only if the signal raised an exception
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM
