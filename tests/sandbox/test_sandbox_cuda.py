"""GPU path: a fresh single-use process per job; skipped cleanly where there is no CUDA GPU."""

from __future__ import annotations

import numpy as np
import pytest
from sandbox_support import GOOD, X, job

from service.sandbox.cuda import gpu_present
from service.sandbox.protocol import Job

pytestmark = pytest.mark.sandbox


def cuda_job(code: str, **kw: object) -> Job:
    j = job(code, **kw)  # type: ignore[arg-type]
    return Job(code=j.code, entry=j.entry, framework=j.framework, cases=j.cases, time_s=10.0, device="cuda")


@pytest.mark.skipif(gpu_present(), reason="checks the no-GPU answer")
def test_cuda_job_without_a_gpu_is_unavailable_not_silently_cpu(pool):
    r = pool.run(cuda_job(GOOD))
    assert r.status == "unavailable" and "no CUDA GPU" in r.detail


@pytest.mark.cuda
@pytest.mark.skipif(not gpu_present(), reason="needs a CUDA GPU")
def test_cuda_permute_runs_on_the_gpu(pool):
    r = pool.run(cuda_job(GOOD, cases=2))
    assert r.status == "ok", r
    v = r.cases["case0"].value
    # The output is a view of the GPU copy of the input: GPU memory the trusted side cannot read, so no
    # verified sharing is claimed (the grading engine leaves view_of_input to the CPU cases).
    assert v.device == "cuda" and v.shares_input == () and v.strides == (1, 12, 4)
    np.testing.assert_array_equal(v.array, X.transpose(2, 0, 1))


@pytest.mark.cuda
@pytest.mark.skipif(not gpu_present(), reason="needs a CUDA GPU")
def test_cuda_sandbox_is_still_isolated(pool):
    code = ("import os, socket\ndef solve(x):\n    try:\n        socket.socket(socket.AF_INET)\n        net = True\n"
            "    except PermissionError:\n        net = False\n    return (os.getuid(), net)\n")
    r = pool.run(cuda_job(code))
    uid, net = r.cases["case0"].value.items
    assert uid.scalar >= 64000 and net.scalar is False
    r = pool.run(cuda_job("import time\ndef solve(x):\n    time.sleep(60)\n"))
    assert r.status == "timeout"
