"""The result contract on ordinary (non-hostile) submissions: statuses, values and the facts checks need."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from sandbox_support import X, job

pytestmark = pytest.mark.sandbox


def test_permute_view_facts(run):
    r = run("def solve(x):\n    return x.permute(2, 0, 1)\n", cases=3)
    assert r.status == "ok" and set(r.cases) == {"case0", "case1", "case2"}
    v = r.cases["case0"].value
    assert v.kind == "tensor" and v.dtype == "float32" and v.shape == (4, 2, 3) and v.device == "cpu"
    assert v.shares_input == ("a0",) and v.contiguous is False and v.strides == (1, 12, 4)
    np.testing.assert_array_equal(v.array, X.transpose(2, 0, 1))
    assert r.cases["case0"].inputs_unchanged == {"a0": True}


def test_copy_is_not_a_view_and_mutation_is_seen(run):
    r = run("def solve(x):\n    y = x.clone()\n    x.mul_(2)\n    return y.contiguous()\n")
    c = r.cases["case0"]
    assert c.value.shares_input == () and c.value.contiguous is True
    assert c.inputs_unchanged == {"a0": False}


def test_syntax_error(run):
    r = run("def solve(x)\n    return x\n")
    assert r.status == "syntax_error" and r.error["type"] == "SyntaxError" and r.error["line"] == 1


def test_missing_function(run):
    assert run("def other(x):\n    return x\n").status == "missing_function"


def test_module_level_exception_is_runtime_error(run):
    r = run("import torch\nraise ValueError('boom at import')\n")
    assert r.status == "runtime_error" and "boom at import" in r.error["message"]


def test_case_exception_traceback_is_trimmed_to_learner_lines(run):
    r = run("def helper(x):\n    return x.view(5, 5)\n\ndef solve(x):\n    return helper(x)\n")
    assert r.status == "ok"
    err = r.cases["case0"].error
    assert err["type"] == "RuntimeError"
    tb = err["traceback"]
    assert 'File "<submission>", line 5, in solve' in tb and "line 2, in helper" in tb
    assert "site-packages" not in tb and "harness" not in tb


def test_numpy_framework_and_plain_values(run):
    r = run("import numpy as np\ndef solve(x):\n    return (np.ascontiguousarray(x.T), x.ndim, 1.5, 'ok', None, [True])\n",
            framework="numpy")
    v = r.cases["case0"].value
    assert v.kind == "tuple" and [i.kind for i in v.items] == ["ndarray", "int", "float", "str", "none", "list"]
    np.testing.assert_array_equal(v.items[0].array, X.T)
    assert v.items[0].shares_input == () and v.items[1].scalar == 3 and v.items[5].items[0].scalar is True


def test_bfloat16_and_warnings(pool):
    from service.sandbox.protocol import ArgIn, CaseIn, Job

    code = "def solve(x):\n    return x.T\n"  # .T on a 3-D tensor is deprecated: warns every call
    j = Job(code=code, entry="solve", framework="torch",
            cases=tuple(CaseIn(f"c{i}", (ArgIn("x", array=X, torch_dtype="bfloat16"),)) for i in range(2)))
    r = pool.run(j)
    for c in r.cases.values():
        assert c.value.dtype == "bfloat16" and c.value.array.dtype == np.float32
        np.testing.assert_array_equal(c.value.array, X.transpose(2, 1, 0))
        assert any(".T" in w or "transpose" in w.lower() for w in c.warnings), c.warnings


def test_each_case_gets_fresh_seed(run):
    r = run("import torch\ndef solve(x):\n    return torch.rand(3)\n", cases=2)
    a, b = (r.cases[n].value.array for n in ("case0", "case1"))
    np.testing.assert_array_equal(a, b)


def _bound_under_tmp() -> set[str]:
    """Top-level /tmp entries that are only the mountpoints of the read-only Python binds: a venv under the
    host's /tmp (as in a CI clone) is bound at the same path inside the child's private /tmp."""
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, *sys.path) if p}
    return {p.split("/")[2] for p in paths if p.startswith("/tmp/")}


def test_concurrent_runs_are_isolated(pool):
    import threading

    writer = "import os, time\ndef solve(x):\n    open('/tmp/mine', 'w').write('A')\n    time.sleep(0.5)\n    return os.listdir('/tmp')\n"
    reader = "import os, time\ndef solve(x):\n    time.sleep(0.2)\n    return (os.listdir('/tmp'), sorted(p for p in os.listdir('/proc') if p.isdigit()))\n"
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("w", pool.run(job(writer))))
    t.start()
    rd = pool.run(job(reader))
    t.join()
    written = {i.scalar for i in out["w"].cases["case0"].value.items}
    assert written - _bound_under_tmp() == {"mine"}
    listing, pids = rd.cases["case0"].value.items
    assert {i.scalar for i in listing.items} - _bound_under_tmp() == set()
    assert [p.scalar for p in pids.items] == ["1"]


def test_nothing_survives_to_the_next_submission(run, pool):
    r1 = pool.run(job("import os\nopen('/tmp/left', 'w').write('x')\nos.environ['LEFT'] = '1'\n"
                      "import torch\ntorch.Tensor.permute = lambda *a: 'patched'\ndef solve(x):\n    return 0\n"))
    assert r1.status == "ok"
    r2 = run("import os, torch\ndef solve(x):\n    return (os.listdir('/tmp'), 'LEFT' in os.environ, x.permute(1, 0, 2).shape[0])\n")
    items = r2.cases["case0"].value.items
    assert {i.scalar for i in items[0].items} - _bound_under_tmp() == set()
    assert items[1].scalar is False and items[2].scalar == 3


def test_many_threads_mixed_with_hostile_jobs(pool):
    from concurrent.futures import ThreadPoolExecutor

    good = "def solve(x):\n    return x.permute(2, 0, 1)\n"
    bad = ["def solve(x):\n    while True:\n        pass\n", "import os\ndef solve(x):\n    os._exit(1)\n",
           "def solve(x):\n    print('x' * 2 ** 20)\n    print('y' * 2 ** 20)\n", "def solve(x)\n"]
    jobs = [job(good, time_s=5.0) if i % 2 == 0 else job(bad[i // 2 % len(bad)], time_s=0.5) for i in range(24)]
    with ThreadPoolExecutor(6) as ex:
        runs = list(ex.map(pool.run, jobs))
    for i, r in enumerate(runs):
        if i % 2 == 0:
            assert r.status == "ok", r
            np.testing.assert_array_equal(r.cases["case0"].value.array, X.transpose(2, 0, 1))
        else:
            assert r.status in ("timeout", "crashed", "output_limit", "syntax_error"), r


def test_everyday_library_code_works_inside(run):
    code = ("import math, itertools, functools, collections, random, re, json\n"
            "import numpy as np\nimport torch\nimport torch.nn.functional as F\n"
            "def solve(x):\n    m = x.reshape(4, 6)[:, :4] + torch.eye(4)\n"
            "    out = [torch.einsum('ij,jk->ik', m, m).sum().item(), torch.linalg.inv(m).shape[0],\n"
            "           F.softmax(m, dim=-1).sum().item(), float(np.linalg.det(m.numpy())),\n"
            "           float(np.fft.fft(np.arange(8.0)).real[0]), torch.nn.Linear(4, 2)(m).shape[1],\n"
            "           torch.randn(3).shape[0], math.prod([2, 3])]\n"
            "    return out\n")
    r = run(code)
    assert r.status == "ok", r
    assert r.cases["case0"].error is None, r.cases["case0"].error
    vals = [i.scalar for i in r.cases["case0"].value.items]
    assert vals[1] == 4 and abs(vals[2] - 4.0) < 1e-5 and vals[4] == 28.0 and vals[5] == 2 and vals[7] == 6
