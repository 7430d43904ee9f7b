"""Engine contract without a sandbox: what each job carries, caching, fail-closed and never-raise behaviour."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
from grading_support import codes, exercise, tensor

from service.domain import Case, Submission, Text
from service.grading.engine import Engine
from service.grading.reference import ReferenceCache
from service.sandbox.protocol import CaseOut, Job, RawRun

SOLUTION = "def solve(x):\n    return x.permute(1, 0)\n"
EX = exercise(id="c-ex", solution=SOLUTION,
              cases=(Case("seen", True, {"x": [[1, 2, 3], [4, 5, 6]]}), Case("secret", False, {"x": {"coded": [2, 4]}})))


class RecordingRunner:
    """Answers each job by applying a trusted numpy function to its inputs; records every job it was given."""

    def __init__(self, behaviour: Callable[[Job], RawRun | None] | None = None) -> None:
        self.jobs: list[Job] = []
        self.behaviour = behaviour

    def run(self, job: Job, cancel: object = None) -> RawRun:
        self.jobs.append(job)
        if self.behaviour is not None:
            answer = self.behaviour(job)
            if answer is not None:
                return answer
        outs = {c.name: CaseOut(c.name, value=tensor(c.args[0].array.T), inputs_unchanged={"x": True})
                for c in job.cases if c.args[0].array is not None}
        return RawRun(status="ok", cases=outs)


def test_reference_and_learner_run_separately_and_the_reference_is_cached() -> None:
    runner = RecordingRunner()
    engine = Engine(runner)
    first = engine.grade(EX, Submission(EX.id, code="def solve(x):\n    return x.T\n"))
    second = engine.grade(EX, Submission(EX.id, code="def solve(x):\n    return x.mT\n"))
    assert first.passed and second.passed
    # One reference run with every case; each submission runs twice: visible cases and hidden cases apart.
    assert runner.jobs[0].code == SOLUTION and [c.name for c in runner.jobs[0].cases] == ["seen", "secret"]
    learner = runner.jobs[1:]
    assert sorted(j.code for j in learner) == sorted(["def solve(x):\n    return x.T\n"] * 2
                                                     + ["def solve(x):\n    return x.mT\n"] * 2)
    assert sorted(tuple(c.name for c in j.cases) for j in learner) == [("secret",), ("secret",), ("seen",), ("seen",)]
    # Learner jobs carry inputs only: never the solution, never expected values.
    for job in learner:
        assert SOLUTION not in job.code and job.time_s == EX.limits.time_s
    assert first.timings["reference_ms"] > 0 and second.timings["reference_ms"] == 0.0
    changed = exercise(id="c-ex", solution=SOLUTION + "\n", cases=EX.cases)  # a new version re-runs the reference
    engine.grade(changed, Submission(EX.id, code="def solve(x):\n    return x.T\n"))
    assert runner.jobs[5].code == SOLUTION + "\n"


def test_output_printed_by_hidden_cases_never_reaches_the_learner() -> None:
    def printing(job: Job) -> RawRun | None:
        outs = {c.name: CaseOut(c.name, value=tensor(c.args[0].array.T)) for c in job.cases
                if c.args[0].array is not None}
        shown = " ".join(str(c.args[0].array.tolist()) for c in job.cases)
        return RawRun(status="ok", cases=outs, stdout=shown, stderr=shown)

    r = Engine(RecordingRunner(printing)).grade(EX, Submission(EX.id, code="def solve(x): print(x)"))
    assert r.passed and r.stdout == "[[1, 2, 3], [4, 5, 6]]" and r.stderr == r.stdout
    only_hidden = exercise(id="c-hidden", solution=SOLUTION, cases=EX.cases[1:])
    r = Engine(RecordingRunner(printing)).grade(only_hidden, Submission(only_hidden.id, code="def solve(x): print(x)"))
    assert r.passed and "1" not in r.stdout and r.stderr == ""


def test_cache_is_bounded() -> None:
    runner = RecordingRunner()
    cache = ReferenceCache(runner, size=1)
    other = exercise(id="c-other", solution=SOLUTION, cases=EX.cases)
    cache.get(EX)
    cache.get(other)
    cache.get(EX)
    assert len(runner.jobs) == 3


def test_unavailable_sandbox_fails_closed_with_an_error_status() -> None:
    def unavailable(job: Job) -> RawRun | None:
        return None if job.code == SOLUTION else RawRun(status="unavailable", detail="seccomp layer missing")

    r = Engine(RecordingRunner(unavailable)).grade(EX, Submission(EX.id, code="def solve(x):\n    return x\n"))
    assert r.status == "error" and not r.passed and codes(r.diagnoses) == ["grader_error"]
    assert r.diagnoses[0].details["reason"] == "sandbox_unavailable"


def test_an_engine_bug_still_returns_the_same_shape() -> None:
    def explode(job: Job) -> RawRun | None:
        raise RuntimeError("boom")

    r = Engine(RecordingRunner(explode)).grade(EX, Submission(EX.id, code="x"))
    ok = Engine(RecordingRunner()).grade(EX, Submission(EX.id, code="def solve(x):\n    return x.T\n"))
    assert r.status == "error" and codes(r.diagnoses) == ["grader_error"]
    assert r.diagnoses[0].messages["ja"] and "boom" not in r.diagnoses[0].message
    assert set(r.to_dict()) == set(ok.to_dict()) and set(r.timings) == set(ok.timings)
    json.dumps(r.to_dict(), allow_nan=False)


def test_partial_run_grades_finished_cases_and_explains_the_rest() -> None:
    def timeout_after_first(job: Job) -> RawRun | None:
        if job.code == SOLUTION:
            return None
        first = job.cases[0]
        assert first.args[0].array is not None
        return RawRun(status="timeout", detail="wall clock", limits_hit=["time"],
                      cases={first.name: CaseOut(first.name, value=tensor(first.args[0].array.T))})

    three = exercise(id="c-three", solution=SOLUTION, cases=(*EX.cases, Case("secret-2", False, {"x": [[1, 2]]})))
    r = Engine(RecordingRunner(timeout_after_first)).grade(three, Submission(three.id, code="def solve(x): ..."))
    # The hidden run stopped after its first case: the visible run and that case still count.
    assert [c.passed for c in r.cases] == [True, True, False] and r.score == round(2 / 3, 6)
    assert r.limits_hit == ["time"] and codes(r.diagnoses) == ["timeout"]
    assert r.cases[2].status == "timeout" and not r.cases[2].passed
    assert r.cases[2].checks[0].message.startswith("Hidden case: stopped at the time limit")


def test_quiz_goes_through_the_engine_without_a_sandbox() -> None:
    runner = RecordingRunner()
    quiz = exercise(id="c-quiz", kind="shape", answer=[3, 2], explanation=Text("e", "e"))
    r = Engine(runner).grade(quiz, Submission(quiz.id, answer="torch.Size([3, 2])"))
    assert r.passed and r.kind == "shape" and r.explanation == {"en": "e", "ja": "e"} and runner.jobs == []
    assert set(r.timings) >= {"total_ms", "run_ms", "reference_ms", "compare_ms"}


def test_hidden_case_output_is_never_rendered() -> None:
    r = Engine(RecordingRunner()).grade(EX, Submission(EX.id, code="def solve(x):\n    return x.T\n"))
    seen, secret = r.cases
    assert seen.output is not None and seen.expected is not None and seen.inputs is not None
    assert secret.output is None and secret.expected is None and secret.inputs is None
    assert secret.name == "hidden case 1" and "secret" not in json.dumps(r.to_dict())
    assert np.array(seen.expected["values"]).shape == (3, 2)


class GpuRunner(RecordingRunner):
    """A runner on a machine with a GPU: cuda jobs answer with cuda tensors unless the code moves them back."""

    def has_cuda(self) -> bool:
        return True

    def run(self, job: Job, cancel: object = None) -> RawRun:
        self.jobs.append(job)
        device = "cpu" if job.device == "cpu" or ".cpu()" in job.code else "cuda"
        outs = {c.name: CaseOut(c.name, value=tensor(c.args[0].array.T, device=device)) for c in job.cases
                if c.args[0].array is not None}
        return RawRun(status="ok", cases=outs)


def test_gpu_cases_are_extra_and_do_not_change_the_score() -> None:
    gpu = exercise(id="c-gpu", solution=SOLUTION, cases=EX.cases, devices=("cpu", "cuda"))
    runner = GpuRunner()
    r = Engine(runner).grade(gpu, Submission(gpu.id, code="def solve(x):\n    return x.T\n"))
    assert r.passed and r.score == 1.0 and r.diagnoses == []
    assert [(c.name, c.device) for c in r.cases] == [("seen", "cpu"), ("hidden case 1", "cpu"),
                                                     ("seen@cuda", "cuda"), ("hidden case 1@cuda", "cuda")]
    assert {j.device for j in runner.jobs} == {"cpu", "cuda"}
    moved = Engine(GpuRunner()).grade(gpu, Submission(gpu.id, code="def solve(x):\n    return x.T.cpu()\n"))
    # The CPU cases pass; the GPU ones return a CPU tensor: not passed, so not full marks (2 of 2 + 1).
    assert moved.score == round(2 / 3, 6) and not moved.passed
    d, hidden = moved.diagnoses  # the hidden GPU case says only that it failed (sealed, issue 8)
    assert d.code == "device_mismatch" and d.case == "seen@cuda"
    assert hidden.code == "wrong_answer" and hidden.case == "hidden case 1@cuda" and hidden.details == {}
    assert d.message == "Result device: wrong device, expected cuda, got cpu"


def test_gpu_reference_failure_skips_the_gpu_pass_only() -> None:
    class BrokenGpu(GpuRunner):
        def run(self, job: Job, cancel: object = None) -> RawRun:
            if job.device == "cuda":
                return RawRun(status="crashed", detail="CUDA error: no kernel image")
            return super().run(job)

    gpu = exercise(id="c-gpu2", solution=SOLUTION, cases=EX.cases, devices=("cpu", "cuda"))
    r = Engine(BrokenGpu()).grade(gpu, Submission(gpu.id, code="def solve(x):\n    return x.T\n"))
    assert r.status == "graded" and r.passed and codes(r.diagnoses) == ["gpu_skipped"]
    assert r.diagnoses[0].details == {"reason": "reference_failed"}
