"""Run learner code on the visible cases, then (sealed) on the hidden ones, so hidden data can never reach the learner."""

from __future__ import annotations

import ast
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from service.domain import Exercise, Submission
from service.grading.reference import Runner, job_for
from service.sandbox.protocol import CaseIn, Job, RawRun

# Why two runs: one process that sees a hidden input could print it (stdout is shown), or stash it in a
# global and return it as a visible case's output. So the visible run's results, facts and stdout/stderr are
# final before any hidden input exists, and the hidden run is sealed (its status only; its output dropped).
# A pool with `run_phases` does both in ONE child, strictly in turn: the hidden job is sent only after the
# visible RawRun is complete and its pipes are drained (docs/sandbox.md, "Two phases, one process"); half
# the forks, copy-on-write faults and teardowns of two children. Other runners (tests' fakes, a single-use
# GPU runner) get two runs in parallel, as before.
# Sized for every grading worker to have its hidden run going at once (a thread that mostly waits).
_EXECUTOR = ThreadPoolExecutor(max_workers=64, thread_name_prefix="kiwame-hidden")
# A visible run that ended like this would end the same way on the hidden cases: stop paying for them.
# (With run_phases the hidden phase is never started unless the visible one ended "ok".)
_CANCEL_HIDDEN = ("timeout", "memory_limit")


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
    """One RawRun for all cases: outputs of both phases (or runs), but stdout/stderr only from the visible one."""
    visible_names = {c.name for c in exercise.cases if c.visible}
    visible = tuple(c for c in cases if c.name in visible_names)
    hidden = tuple(c for c in cases if c.name not in visible_names)

    def job(part: tuple[CaseIn, ...]) -> Job:
        return job_for(exercise, code, part, device, exercise.limits.time_s)

    if not hidden:
        return merge(runner.run(job(visible)), None, visible_names, set())
    hidden_names = {c.name for c in hidden}
    if visible and device != "cuda" and hasattr(runner, "run_phases"):
        shown, secret = runner.run_phases(job(visible), job(hidden))
        return merge(shown, secret, visible_names, hidden_names)
    cancel = threading.Event()
    pending = _EXECUTOR.submit(runner.run, job(hidden), cancel)
    shown = runner.run(job(visible)) if visible else None
    if shown is not None and shown.status in _CANCEL_HIDDEN:
        cancel.set()
    secret = pending.result()
    return merge(shown, secret, visible_names, hidden_names)


def _own(run: RawRun | None, names: set[str]) -> dict[str, Any]:
    """The cases a run may contribute: only its own job's, and none at all from a run that cheated."""
    if run is None or run.status == "sandbox_violation":
        return {}
    return {n: c for n, c in run.cases.items() if n in names}


def merge(shown: RawRun | None, secret: RawRun | None, visible: set[str], hidden: set[str]) -> RawRun:
    """Combine the visible run (stdout kept) and the hidden run (sealed: its status only) into one RawRun.

    `status` is "ok" only if every run ended "ok". When the hidden run is the one that failed, the merged
    run says so by `sealed=True` and carries no error, detail, exit code or message of it.
    """
    cases = {**_own(shown, visible), **_own(secret, hidden)}
    limits = list(shown.limits_hit) if shown is not None else []
    if secret is not None:
        limits += [h for h in secret.limits_hit if h not in limits]
    # Timings of the visible run only: the hidden run's (or phase's) say nothing a learner may learn.
    timings = dict(shown.timings) if shown is not None else {}
    note = "" if shown is not None else "(output printed by hidden cases is not shown)"
    out = RawRun(status="ok", cases=cases, stdout=shown.stdout if shown is not None else note,
                 stderr=shown.stderr if shown is not None else "", limits_hit=limits, timings=timings)
    # The visible run's failure explains best (its details may be shown in full); the hidden run's is sealed.
    if shown is not None and shown.status != "ok":
        out.status, out.error, out.detail = shown.status, shown.error, shown.detail
    elif secret is not None and secret.status != "ok":
        out.status, out.sealed = ("unavailable", False) if secret.status == "unavailable" else (secret.status, True)
        out.sealed_detail = secret.detail[:500] if out.sealed else ""
        out.detail = secret.detail if secret.status == "unavailable" else ""
    return out
