"""Fair scheduling of gradings: one FIFO per learner, served round-robin, at most one in flight per learner.

Why: with one global FIFO, a learner who sends code that sleeps or spins to the time limit (or a burst of
such submissions, within the rate limit) holds the workers, and everyone else's correct answer waits behind
it. Here a learner's second submission waits in that learner's own queue until the first is graded, and a
free worker always takes the next learner in turn, so an honest learner waits for at most one grading per
other learner that is already running, never for another learner's backlog.

Pure data structure (no Flask, no database): the in-process queue feeds it and its workers drain it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class FairQueue(Generic[T]):
    """``put(learner, item)``; ``get()`` blocks for the next item in round-robin order; ``done(learner)``."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._waiting: dict[Hashable, deque[T]] = {}
        # Learners with queued work and nothing in flight, in the order they will be served.
        self._turn: OrderedDict[Hashable, None] = OrderedDict()
        self._busy: set[Hashable] = set()
        self._closed = False

    def put(self, learner: Hashable, item: T) -> None:
        with self._cv:
            self._waiting.setdefault(learner, deque()).append(item)
            if learner not in self._busy and learner not in self._turn:
                self._turn[learner] = None  # joins at the back of the round
            self._cv.notify()

    def get(self, timeout: float | None = None) -> tuple[Hashable, T] | None:
        """The next learner in turn and their oldest item (the learner is then busy until ``done``);
        None after ``close()`` or when ``timeout`` passes with nothing eligible."""
        with self._cv:
            if not self._cv.wait_for(lambda: self._turn or self._closed, timeout):
                return None
            if self._closed and not self._turn:
                return None
            learner, _ = self._turn.popitem(last=False)
            queue = self._waiting[learner]
            item = queue.popleft()
            if not queue:
                del self._waiting[learner]
            self._busy.add(learner)
            return learner, item

    def done(self, learner: Hashable) -> None:
        """The learner's grading finished: their next item (if any) rejoins the round at the back."""
        with self._cv:
            self._busy.discard(learner)
            if learner in self._waiting:
                self._turn[learner] = None
                self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def pending(self) -> int:
        with self._cv:
            return sum(len(q) for q in self._waiting.values())

    def in_flight(self) -> int:
        with self._cv:
            return len(self._busy)
