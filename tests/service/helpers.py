"""Test pipelines and runners for the service tests (module-level, so worker processes can
unpickle job specs that name them)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from voxforge.core.errors import GeometryError
from voxforge.core.outputs import OutputDir
from voxforge.core.registry import Registry
from voxforge.service.jobs import JobSpec, Report, RunnerEvent
from voxforge.service.pipelines import PipelineSpec, default_pipelines


class EchoConfig(BaseModel):
    """Options of the echo pipeline: how many progress steps, how slow, whether to fail."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(4, ge=1, le=100)
    delay_s: float = Field(0.0, ge=0, le=5)
    fail: bool = False


def run_echo(input_path: Path | None, out_dir: Path, config: EchoConfig, progress: Any) -> None:
    """Reports ``steps`` progress values, then writes ``echo.json`` and ``steps/step_001.png``."""
    for i in range(config.steps):
        progress("echo", i / config.steps)
        time.sleep(config.delay_s)
    if config.fail:
        raise GeometryError("echo: asked to fail")
    data = input_path.read_bytes() if input_path is not None else b""
    from PIL import Image

    with OutputDir(out_dir, extra={"job": "echo"}) as od:
        od.path("echo.json").write_text(
            f'{{"sha256": "{hashlib.sha256(data).hexdigest()}", "size": {len(data)}}}\n'
        )
        od.add("echo.json")
        Image.fromarray(np.full((4, 4, 3), 200, np.uint8)).save(od.path("steps/step_001.png"))
        od.add("steps/step_001.png")
    progress("echo", 1.0)


def run_crash(input_path: Path | None, out_dir: Path, config: EchoConfig, progress: Any) -> None:
    """Kills its own process, as a segfaulting native library would."""
    progress("crash", 0.5)
    os._exit(3)


def run_hang(input_path: Path | None, out_dir: Path, config: EchoConfig, progress: Any) -> None:
    """Fills a temporary folder and a half-written output, then works slowly (to be killed)."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="voxforge-capture-"))
    (scratch / "unpacked.bin").write_bytes(b"\0" * 4096)
    with OutputDir(out_dir) as od:
        od.path("partial.bin").write_bytes(b"\0" * 4096)
        for i in range(config.steps):
            progress("hang", i / config.steps)
            time.sleep(config.delay_s)
        od.add("partial.bin")


def run_where(input_path: Path | None, out_dir: Path, config: EchoConfig, progress: Any) -> None:
    """Writes the paths the job was given to ``summary.json`` (what a pipeline would record)."""
    with OutputDir(out_dir) as od:
        od.path("summary.json").write_text(
            f'{{"input": "{input_path}", "out": "{out_dir}", "cwd": "{Path.cwd().name}"}}'
        )
        od.add("summary.json")


def test_pipelines() -> Registry[PipelineSpec]:
    """The real pipelines plus ``echo``, ``crash`` and the text-only ``echotext``."""
    reg = default_pipelines()
    reg.register("echo", PipelineSpec("echo", EchoConfig, run_echo, frozenset({"model", "image"})))
    reg.register("crash", PipelineSpec("crash", EchoConfig, run_crash, frozenset({"model"})))
    reg.register("hang", PipelineSpec("hang", EchoConfig, run_hang, frozenset({"model"})))
    reg.register("where", PipelineSpec("where", EchoConfig, run_where, frozenset({"model"})))
    reg.register("echotext", PipelineSpec("echotext", TextConfig, run_echo_text, frozenset({"text"})))
    return reg


test_pipelines.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class TextConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=200)


def run_echo_text(input_path: Path | None, out_dir: Path, config: TextConfig, progress: Any) -> None:
    with OutputDir(out_dir) as od:
        od.path("prompt.txt").write_text(config.prompt)
        od.add("prompt.txt")


class HoldRunner:
    """Accepts jobs and never runs them (a server that stops before a worker is free)."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def start(self, report: Report) -> None:
        self.report = report

    def submit(self, spec: JobSpec) -> None:
        self.submitted.append(spec.job_id)

    def cancel(self, job_id: str) -> bool:
        return job_id in self.submitted

    def shutdown(self) -> None:
        pass


class StartOnlyRunner(HoldRunner):
    """Reports every job as started and then nothing (the server dies mid-job)."""

    def submit(self, spec: JobSpec) -> None:
        super().submit(spec)
        self.report(RunnerEvent(spec.job_id, "started"))
        self.report(RunnerEvent(spec.job_id, "progress", "echo", 0.25))
