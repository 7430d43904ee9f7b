"""Run learner code with visible and hidden cases in separate sandboxes, so hidden data can never reach the learner."""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor

from service.domain import Exercise, Submission
from service.grading.reference import Runner, job_for
from service.sandbox.protocol import CaseIn, RawRun

# Why two runs: one process that sees a hidden input could print it (stdout is shown), or stash it in a
# global and return it as a visible case's output. A separate single-use sandbox for the hidden cases,
# whose stdout/stderr are dropped, closes both channels. The runs go in parallel, so latency barely moves.
_EXECUTOR = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kiwame-hidden")


def pick_framework(exercise: Exercise, submission: Submission) -> str:
    """The framework a submission is graded in: the one it names, else the one its code imports
    (torch before numpy, since torch code often imports numpy too), else the exercise's first."""
    offered = exercise.offered
    if submission.framework in offered:
        return submission.framework  # type: ignore[return-value]
    if len(offered) > 1 and submission.code:
        try:
            tree = ast.parse(submission.code)
        except (SyntaxError, ValueError):
            return exercise.framework
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        for fw in ("torch", "numpy"):
            if fw in imported and fw in offered:
                return fw
    return exercise.framework


def run_learner(runner: Runner, exercise: Exercise, code: str, cases: tuple[CaseIn, ...], device: str) -> RawRun:
    """One RawRun for all cases: outputs of both runs, but stdout/stderr only from the visible one."""
    visible_names = {c.name for c in exercise.cases if c.visible}
    visible = tuple(c for c in cases if c.name in visible_names)
    hidden = tuple(c for c in cases if c.name not in visible_names)
    if not hidden:
        return runner.run(job_for(exercise, code, visible, device, exercise.limits.time_s))
    pending = _EXECUTOR.submit(runner.run, job_for(exercise, code, hidden, device, exercise.limits.time_s))
    if visible:
        shown = runner.run(job_for(exercise, code, visible, device, exercise.limits.time_s))
    else:
        shown = None
    secret = pending.result()
    return merge(shown, secret)


def merge(shown: RawRun | None, secret: RawRun) -> RawRun:
    """Combine the visible run (stdout kept) and the hidden run (stdout dropped) into one RawRun."""
    # The first failure explains the run; the visible run's wins, since its details may be shown in full.
    first_bad = next((r for r in (shown, secret) if r is not None and r.status != "ok"), None)
    base = first_bad or shown or secret
    note = "" if shown is not None else "(output printed by hidden cases is not shown)"
    cases = dict(shown.cases) if shown is not None else {}
    cases.update(secret.cases)
    limits = list(shown.limits_hit) if shown is not None else []
    limits += [h for h in secret.limits_hit if h not in limits]
    timings = {k: max(shown.timings.get(k, 0.0) if shown else 0.0, secret.timings.get(k, 0.0))
               for k in set(secret.timings) | set(shown.timings if shown else {})}
    return RawRun(
        status=base.status,
        cases=cases,
        error=base.error,
        stdout=shown.stdout if shown is not None else note,
        stderr=shown.stderr if shown is not None else "",
        limits_hit=limits,
        detail=base.detail,
        timings=timings,
    )
