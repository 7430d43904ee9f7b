"""Verdict forgery: patched comparisons, fake printed results, result files, early exits of every kind."""

from __future__ import annotations

import numpy as np
import pytest
from sandbox_support import X

pytestmark = pytest.mark.sandbox

WRONG = "    return torch.zeros(4, 2, 3)\n"


def test_patched_comparisons_do_not_change_what_is_compared(run):
    code = ("import torch, numpy as np\n"
            "torch.equal = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n"
            "torch.testing.assert_close = lambda *a, **k: None\nnp.allclose = lambda *a, **k: True\n"
            "np.testing.assert_allclose = lambda *a, **k: None\nnp.array_equal = lambda *a, **k: True\n"
            "torch.Tensor.__eq__ = lambda *a: True\ntorch.Tensor.numpy = lambda self, *a, **k: np.zeros((4, 2, 3))\n"
            "torch.Tensor.tolist = lambda self: [[1]]\ntorch.Tensor.shape = property(lambda self: (4, 2, 3))\n"
            "def solve(x):\n" + WRONG)
    r = run(code)
    v = r.cases["case0"].value
    assert r.status == "ok" and v.shape == (4, 2, 3)
    np.testing.assert_array_equal(v.array, np.zeros((4, 2, 3), np.float32))
    assert not np.array_equal(v.array, X.transpose(2, 0, 1))  # the trusted side sees the real zeros


def test_printed_fake_results_are_just_text(run):
    from service.sandbox import wire

    fake = wire.frame({"t": "done"}).decode("latin-1")
    code = ("import torch, json\ndef solve(x):\n"
            f"    print({fake!r})\n    print(json.dumps({{'passed': True, 'score': 1.0}}))\n" + WRONG)
    r = run(code)
    assert r.status == "ok" and '"passed": true' in r.stdout
    assert not np.array_equal(r.cases["case0"].value.array, X.transpose(2, 0, 1))


def test_result_files_go_nowhere(run):
    code = ("import torch, os\ndef solve(x):\n    written = []\n"
            "    for p in ['/tmp/results.json', '/results.json', '/usr/results.json', '/work/main/results.json']:\n"
            "        try:\n            open(p, 'w').write('{\"score\": 1}')\n            written.append(p)\n"
            "        except OSError:\n            pass\n    return written\n")
    r = run(code)
    assert [i.scalar for i in r.cases["case0"].value.items] == ["/tmp/results.json"]


def test_forged_frames_on_the_result_fd_are_a_violation(run):
    from service.sandbox import wire

    done = wire.frame({"t": "done"})
    r = run(f"import os\ndef solve(x):\n    os.write(4, {done!r})\n    return x.permute(2, 0, 1)\n", cases=2)
    assert r.status == "sandbox_violation"
    r = run("import os\ndef solve(x):\n    os.write(4, b'\\xff\\xff\\xff\\xff garbage')\n    return 1\n")
    assert r.status == "sandbox_violation"


@pytest.mark.parametrize("strides,status,detail", [
    ([10 ** 12, 10 ** 6, 1], "sandbox_violation", "strides do not cover"),  # 8 bytes for a 10^18-element span
    ([0, 0, 0], "output_limit", "larger than"),  # an honest-looking expansion of one element: over the cap
])
def test_forged_huge_shape_is_rejected_before_allocation(run, strides, status, detail):
    from service.sandbox import wire

    bad = wire.frame({"t": "case", "name": "case0", "error": None, "value": {
        "kind": "tensor", "dtype": "float64", "shape": [10 ** 6, 10 ** 6, 10 ** 6], "strides": strides,
        "first": 0, "nbytes": 8}}, [b"\0" * 8])
    r = run(f"import os\ndef solve(x):\n    os.write(4, {bad!r})\n    os._exit(0)\n")
    assert r.status == status and detail in r.detail, r


@pytest.mark.parametrize("body,status", [
    ("    import sys\n    sys.exit(0)\n", "ok"),  # SystemExit is just this case's error
    ("    raise BaseException('bye')\n", "ok"),
    ("    raise KeyboardInterrupt\n", "ok"),
    ("    import os\n    os._exit(0)\n", "crashed"),
    ("    import os\n    os.closerange(0, 64)\n    return 1\n", "crashed"),
    ("    import os\n    os.close(4)\n    return 1\n", "crashed"),
    ("    import ctypes\n    ctypes.string_at(0)\n", "crashed"),
])
def test_every_early_exit_is_a_clear_non_passing_result(run, body, status):
    r = run("import torch\ndef solve(x):\n" + body)
    assert r.status == status, r
    if status == "ok":
        assert r.cases["case0"].value is None and r.cases["case0"].error["type"] in (
            "SystemExit", "BaseException", "KeyboardInterrupt")
    else:
        assert r.detail and not r.cases


def test_exit_at_import_and_killing_itself(run):
    assert run("import sys\nsys.exit(0)\ndef solve(x):\n    return x\n").status == "runtime_error"
    # The child is PID 1 of its namespace: signals it has no handler for are ignored, so a self-kill
    # does nothing and the run completes (with whatever the code returns afterwards).
    r = run("import os, signal\ndef solve(x):\n    os.kill(os.getpid(), signal.SIGKILL)\n    os.kill(1, signal.SIGTERM)\n    return 7\n")
    assert r.status == "ok" and r.cases["case0"].value.scalar == 7
    r = run("import os, signal\ndef solve(x):\n    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n    os.kill(1, signal.SIGTERM)\n    return 7\n")
    assert r.status == "crashed"
