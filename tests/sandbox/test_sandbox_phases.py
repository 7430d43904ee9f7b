"""Two phases in one child (SandboxPool.run_phases): visible cases, then, only after their RawRun is final
and ended ok, the hidden cases, sealed. The protocol stays as strict as for a single run."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from sandbox_support import X, assert_healthy, job

from service.sandbox.pool import SandboxPool
from service.sandbox.protocol import Job

SECRET = X * 7919 + 104729  # distinctive values only the hidden phase is given


def hidden(code: str, cases: int = 1, **kw: object) -> Job:
    j = job(code, cases=cases, arrays=(SECRET,), **kw)  # type: ignore[arg-type]
    return dataclasses.replace(j, cases=tuple(dataclasses.replace(c, name="h" + c.name) for c in j.cases))


def test_both_phases_run_in_one_child_and_report_their_own_cases(pool: SandboxPool) -> None:
    # A module global survives from the visible phase into the hidden one: the same process ran both.
    code = ("CALLS = []\ndef solve(x):\n    CALLS.append(1)\n"
            "    return x.permute(2, 0, 1) if len(CALLS) < 4 else x.permute(2, 0, 1) * 4\n")
    shown, secret = pool.run_phases(job(code, cases=2), hidden(code, cases=2))
    assert shown.status == "ok" and set(shown.cases) == {"case0", "case1"}
    assert secret.status == "ok" and set(secret.cases) == {"hcase0", "hcase1"}
    got = secret.cases["hcase1"].value
    assert got is not None and got.array is not None
    np.testing.assert_array_equal(got.array, SECRET.transpose(2, 0, 1) * 4)  # the child's 4th call
    assert secret.cases["hcase0"].inputs_unchanged == {"a0": True}
    view = secret.cases["hcase0"].value  # a view of the hidden inputs file: checked on the trusted side
    assert view is not None and view.shares_input == ("a0",)
    assert_healthy(pool)


def test_visible_output_is_kept_and_hidden_output_is_dropped(pool: SandboxPool) -> None:
    code = "import sys\ndef solve(x):\n    print('v', int(x.sum()))\n    print('e', int(x.sum()), file=sys.stderr)\n" \
           "    return x\n"
    shown, secret = pool.run_phases(job(code), hidden(code))
    assert shown.status == secret.status == "ok"
    assert shown.stdout == "v 276\n" and shown.stderr == "e 276\n"
    assert secret.stdout == secret.stderr == ""


def test_a_visible_timeout_never_starts_the_hidden_phase(pool: SandboxPool) -> None:
    code = "import time\ndef solve(x):\n    time.sleep(30)\n"
    t0 = time.monotonic()
    shown, secret = pool.run_phases(job(code, time_s=0.5), hidden(code, time_s=0.5))
    assert shown.status == "timeout" and secret.status == "cancelled" and secret.cases == {}
    assert time.monotonic() - t0 < 1.5 + 1.0  # one wall limit (0.5 s + 1 s grace), not two


def test_a_visible_job_level_error_skips_the_hidden_phase(pool: SandboxPool) -> None:
    shown, secret = pool.run_phases(job("def solve(x:\n"), hidden("def solve(x:\n"))
    assert shown.status == "syntax_error" and secret.status == "cancelled"


def test_each_phase_has_its_own_wall_clock(pool: SandboxPool) -> None:
    # 0.6 s per phase under a 1 s limit: 1.2 s in all, over one phase's limit, within each phase's own.
    code = "import time\ndef solve(x):\n    time.sleep(0.6)\n    return 1\n"
    shown, secret = pool.run_phases(job(code, time_s=1.0), hidden(code, time_s=1.0))
    assert shown.status == "ok" and secret.status == "ok"
    slow = "import time\nN = []\ndef solve(x):\n    N.append(1)\n    time.sleep(0 if len(N) == 1 else 30)\n    return 1\n"
    shown, secret = pool.run_phases(job(slow, time_s=0.5), hidden(slow, time_s=0.5))
    assert shown.status == "ok" and secret.status == "timeout" and secret.cases == {}


def test_a_job_level_frame_in_the_hidden_phase_is_refused(pool: SandboxPool) -> None:
    # The module was loaded in the visible phase: no job-level result can legitimately come later.
    code = ("import os, json\nN = []\ndef solve(x):\n    N.append(1)\n    if len(N) > 1:\n"
            "        h = json.dumps({'t': 'job', 'status': 'runtime_error', 'nbytes': 0,"
            " 'error': {'type': 'E', 'message': 'x'}}).encode()\n"
            "        os.write(4, len(h).to_bytes(4, 'big') + h)\n    return 1\n")
    shown, secret = pool.run_phases(job(code), hidden(code))
    assert shown.status == "ok" and secret.status == "sandbox_violation" and secret.cases == {}


def test_sealing_the_hidden_inputs_file_early_is_a_hidden_violation(pool: SandboxPool) -> None:
    # The second phase's inputs file is open in the child from the start (fd 6): a learner who seals it
    # during the visible phase, so that the trusted side cannot write it, gets a violation, not a crash.
    code = ("import fcntl, os\ntry:\n    fcntl.fcntl(6, 1033, 0x0001 | 0x0002 | 0x0004 | 0x0008)\nexcept OSError:\n"
            "    pass\ndef solve(x):\n    return x\n")
    shown, secret = pool.run_phases(job(code), hidden(code))
    assert shown.status == "ok" and shown.cases
    assert secret.status == "sandbox_violation" and secret.cases == {}
    # Resizing it first changes nothing: the trusted side sizes it itself, then seals it.
    grow = "import os\nos.ftruncate(6, 1 << 20)\ndef solve(x):\n    return x\n"
    shown, secret = pool.run_phases(job(grow), hidden(grow))
    assert shown.status == secret.status == "ok" and secret.cases["hcase0"].inputs_unchanged == {"a0": True}
    assert_healthy(pool)
