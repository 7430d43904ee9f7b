"""Hostile return values: lying tensor subclasses, __reduce__, object arrays, fake classes, huge outputs."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.sandbox


def test_tensor_subclass_lies_are_ignored(run):
    code = ("import torch\nclass Liar(torch.Tensor):\n"
            "    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
            "        return torch.arange(24.).reshape(4, 2, 3)\n"
            "    def numpy(self, *a, **k):\n        raise SystemExit\n"
            "    @property\n    def shape(self):\n        return (4, 2, 3)\n"
            "def solve(x):\n    return torch.zeros(7).as_subclass(Liar)\n")
    v = run(code).cases["case0"].value
    assert v.kind == "tensor" and v.shape == (7,)
    np.testing.assert_array_equal(v.array, np.zeros(7, np.float32))


def test_objects_never_run_their_hooks(run):
    code = ("import os, torch, numpy as np\n"
            "class Evil:\n    def __reduce__(self):\n        return (os.system, ('echo pwned',))\n"
            "    def __repr__(self):\n        while True: pass\n    __str__ = __repr__\n"
            "class Pretend:\n    __class__ = property(lambda self: torch.Tensor)\n"
            "def solve(x):\n    return [Evil(), Pretend(), np.array([Evil()], dtype=object), {'a': 1}, 10 ** 100]\n")
    r = run(code, time_s=1.0)
    assert r.status == "ok", r
    kinds = [(i.kind, i.type_name) for i in r.cases["case0"].value.items]
    assert kinds == [("other", "Evil"), ("other", "Pretend"), ("other", "ndarray[object]"),
                     ("other", "dict"), ("other", "int")]
    assert "pwned" not in r.stdout


def test_huge_outputs_hit_the_result_cap(run):
    r = run("import torch\ndef solve(x):\n    return torch.zeros(1).expand(10 ** 6, 10 ** 6)\n")
    assert r.status == "output_limit" and "result_size" in r.limits_hit


def test_deep_nesting_and_many_items(run):
    r = run("def solve(x):\n    v = 1\n    for _ in range(100):\n        v = [v]\n    return (v, list(range(5000)))\n")
    items = r.cases["case0"].value.items
    assert r.status == "ok" and items[1].kind == "other"


def test_result_cap_is_for_the_whole_run(run):
    # 3 cases x 8 MiB: each fits alone, together they are over the 16 MiB cap
    r = run("import torch\ndef solve(x):\n    return torch.zeros(2 * 1024 ** 2)\n", cases=3)
    assert r.status == "output_limit" and r.limits_hit == ["result_size"]
