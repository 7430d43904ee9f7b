"""The learner's pick of framework on the real sandbox: a bundled exercise offered in numpy and torch."""

from __future__ import annotations

from pathlib import Path

import test_engine

from service.domain import Exercise, Submission
from service.exercises.catalog import load_catalog
from service.grading.engine import Engine

engine = test_engine.engine  # the real-sandbox fixture, with the same availability rules
EXERCISES = Path(__file__).resolve().parents[2] / "exercises"
NUMPY = "import numpy as np\n\n\ndef solve(m, v):\n    return np.einsum('pij,pj->i', m, v)\n"
TORCH = "import torch\n\n\ndef solve(m, v):\n    return torch.einsum('pij,pj->i', m, v)\n"


def bundled(exercise_id: str) -> Exercise:
    found = load_catalog(EXERCISES).get(exercise_id)
    assert found is not None
    return found


def test_a_correct_numpy_answer_passes_in_numpy_and_the_torch_one_in_torch(engine: Engine) -> None:
    ex = bundled("np100-sum-of-products")
    assert ex.offered == ("numpy", "torch")
    result = engine.grade(ex, Submission(ex.id, code=NUMPY, framework="numpy"))
    assert result.passed and result.score == 1.0
    assert all(c.passed for c in result.cases) and len(result.cases) > 2  # hidden and generated cases too
    assert engine.grade(ex, Submission(ex.id, code=TORCH, framework="torch")).passed


def test_a_torch_answer_picked_as_numpy_fails_and_says_why(engine: Engine) -> None:
    ex = bundled("np100-sum-of-products")
    result = engine.grade(ex, Submission(ex.id, code=TORCH, framework="numpy"))
    assert not result.passed and result.score == 0.0
    first = result.diagnoses[0]
    assert first.code == "runtime_error" and first.case == "small"  # the visible case leads, readable
    assert "graded in NumPy" in first.messages["en"] and "pick PyTorch" in first.messages["en"]
    assert "NumPy で採点" in first.messages["ja"]


def test_a_numpy_answer_picked_as_torch_fails(engine: Engine) -> None:
    ex = bundled("np100-sum-of-products")
    result = engine.grade(ex, Submission(ex.id, code=NUMPY, framework="torch"))
    # np.einsum accepts tensors but returns an ndarray: graded in torch, that is the wrong type.
    assert not result.passed and result.diagnoses[0].code == "wrong_type"


def test_the_pick_builds_the_inputs_in_that_framework(engine: Engine) -> None:
    ex = bundled("einops-batch-into-width")
    probe = "def solve(x):\n    assert type(x).__module__.split('.')[0] == {fw!r}, type(x)\n    return x\n"
    for fw, other in (("torch", "numpy"), ("numpy", "torch")):
        mine = engine.grade(ex, Submission(ex.id, code=probe.format(fw=fw), framework=fw))
        theirs = engine.grade(ex, Submission(ex.id, code=probe.format(fw=fw), framework=other))
        # the assert holds in the picked framework (the answer is then merely wrong), and fails in the other
        assert all(d.code != "runtime_error" for d in mine.diagnoses), mine.diagnoses
        assert theirs.diagnoses[0].code == "runtime_error"
