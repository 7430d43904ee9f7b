"""`kiwame worker`: the refusals an operator sees before anything is consumed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KIWAME = str(Path(sys.executable).parent / "kiwame")


def _worker(tmp_path: Path, *args: str, broker: str | None = "redis://127.0.0.1:1/0") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIWAME_")}
    env.update({"KIWAME_INSTANCE_DIR": str(tmp_path), "KIWAME_AUTO_MIGRATE": "0",
                "KIWAME_DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}"})
    if broker:
        env["KIWAME_BROKER_URL"] = broker
    return subprocess.run([KIWAME, "worker", *args], env=env, capture_output=True, text=True, timeout=180)


def test_worker_without_a_gpu_refuses_the_gpu_queue(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: the worker would accept the gpu queue")
    done = _worker(tmp_path, "--queues", "cpu,gpu", "--concurrency", "1")
    assert done.returncode == 2
    assert "no CUDA GPU" in done.stderr and "--queues cpu" in done.stderr


def test_worker_refuses_unknown_queues_and_a_missing_broker(tmp_path: Path) -> None:
    unknown = _worker(tmp_path, "--queues", "cpu,tpu")
    assert unknown.returncode == 2 and "unknown queue(s) tpu" in unknown.stderr
    no_broker = _worker(tmp_path, "--concurrency", "1", broker=None)
    assert no_broker.returncode == 2 and "KIWAME_BROKER_URL is not set" in no_broker.stderr
