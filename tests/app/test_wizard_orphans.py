"""No trainer outlives the app: quitting ends it (and it records the run as cancelled), and so
does the app being killed outright."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from wizard_testkit import write_dataset

from engine.config import Paths
from trainer.config import build_config, dump_config
from trainer.runs import list_runs

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# A window-less Qt app that starts a long training run the way the wizard does, then quits
# (or is killed) once the trainer has taken two steps.
APP = r"""
import json, os, signal, sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.wizard.process import TrainingProcess, hook_quit
hook_quit()
config, home, mode = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
proc = TrainingProcess(["run", config], home=home)
quitting = []
def stepped(event):
    if event.step == 2 and not quitting:
        quitting.append(True)
        print(json.dumps({"pid": proc.pid}), flush=True)
        if mode == "quit":
            app.quit()
        else:
            os.kill(os.getpid(), signal.SIGKILL)
proc.stepped.connect(stepped)
proc.failed.connect(lambda message: print(message, file=sys.stderr, flush=True))
proc.finished.connect(lambda outcome: None if quitting else app.exit(3))
proc.start()
sys.exit(app.exec())
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _config(tmp_path: Path, model: Path) -> Path:
    data = write_dataset(tmp_path / "qa.jsonl")
    config = build_config(
        {
            "base": str(model),
            "data": {"path": str(data)},
            "preset": "cpu",
            "train": {
                "max_steps": 5000,
                "max_seq_len": 64,
                "batch_size": 4,
                "grad_accum": 1,
                "gradient_checkpointing": False,
                "eval_every": 0,
                "save_every": 0,
            },
            "evaluate": {"answers": 0},
        }
    )
    path = tmp_path / "run.yaml"
    path.write_text(dump_config(config), encoding="utf-8")
    return path


@pytest.mark.parametrize("how", ["quit", "kill"])
def test_no_trainer_outlives_the_app(
    how: str, tiny_gguf: Path, tmp_path: Path, hearth_home: Path
) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    app = subprocess.run(
        [sys.executable, "-c", APP, str(_config(tmp_path, tiny_gguf)), str(hearth_home), how],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in app.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the trainer never took two steps:\n{app.stderr[-3000:]}"
    pid = json.loads(lines[-1])["pid"]
    if how == "quit":
        assert app.returncode == 0, app.stderr[-3000:]
        assert gone(pid)  # quitting waited for the trainer to end
    else:
        assert app.returncode == -9
        deadline = time.monotonic() + 60
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gone(pid), "the trainer outlived the killed app"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        [run] = list_runs(Paths(hearth_home))
        if run.status != "running":
            break
        time.sleep(0.2)
    assert run.steps >= 2
    # Told to stop by the quitting app, or by the kernel when the app was killed
    # (PR_SET_PDEATHSIG) with no one left to read its output: either way the trainer saved its
    # last step and records the run as cancelled, to be resumed from Past runs.
    assert run.status == "cancelled"
