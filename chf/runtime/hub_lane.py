"""The hub's own lane: one worker thread that runs the CHF's work in arrival order, with group commit for WAN lines.

Anything may be submitted as to a one-thread pool (HAN events, clock ticks, control commands, the last flush:
`loop.run_in_executor(lane, ...)`), and runs alone. GBCS lines queued with `put_line` that are waiting together
when the worker comes to them run as one group (`run_group`, i.e. `Dispatcher.answer_group`: every command through
the core, one commit for all), and only then are their answers released, all at once: one hand-off to the event
loop per group instead of one per command. A group never waits for more lines to arrive, so a lone command costs
what it did; under load the groups grow by themselves (issue 18, item 3; docs/robustness.md, "Group commit").
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chf.runtime.handoff import handoff, holding

log = logging.getLogger("chf.runtime.hub_lane")

A = TypeVar("A")  # what a line gets back (chf.runtime.wan.Answer)

MAX_GROUP = 64  # lines committed together at most: bounds the time the hub's lock is held for one group [I]


@dataclass
class _Call:
    future: "Future[Any]"
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class _Line(Generic[A]):
    raw: bytes
    origin: object
    done: "asyncio.Future[A]"


class HubLane(Executor, Generic[A]):
    """A one-thread executor whose queued GBCS lines are grouped (see the module docstring). `run_group(lines)`
    gets `(raw, origin)` pairs and returns one answer per line, in order, after its commit."""

    def __init__(self, run_group: Callable[[Sequence[tuple[bytes, object]]], list[A]], *,
                 max_group: int = MAX_GROUP, name: str = "hub") -> None:
        self.run_group = run_group
        self.max_group = max_group
        self.name = name
        self._queue: deque[_Call | _Line[A]] = deque()
        self._ready = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._closed = False
        self.groups = 0  # groups run, and lines in them (figures for benchmarks and tests)
        self.grouped_lines = 0

    # ------------------------------------------------------------------------------------------ callers
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> "Future[Any]":
        future: "Future[Any]" = Future()
        self._put(_Call(future, fn, args, kwargs))
        return future

    def put_line(self, raw: bytes, origin: object, done: "asyncio.Future[A]") -> None:
        """Queue one GBCS line; its answer is set on `done` (on `done`'s loop) once its group has committed."""
        self._put(_Line(raw, origin, done))

    def _put(self, item: _Call | _Line[A]) -> None:
        with self._ready:
            if self._closed:
                raise RuntimeError(f"{self.name} lane is shut down")
            self._queue.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=f"{self.name}-lane", daemon=True)
                self._thread.start()
            self._ready.notify()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    # ------------------------------------------------------------------------------------------ the worker
    def _take(self) -> list[_Call | _Line[A]] | None:
        """The next piece of work: one call, or every line queued back to back right now (up to `max_group`)."""
        with self._ready:
            while not self._queue:
                if self._closed:
                    return None
                self._ready.wait()
            first = self._queue.popleft()
            batch: list[_Call | _Line[A]] = [first]
            if isinstance(first, _Line):
                while self._queue and isinstance(self._queue[0], _Line) and len(batch) < self.max_group:
                    batch.append(self._queue.popleft())
            return batch

    def _work(self) -> None:
        while (batch := self._take()) is not None:
            first = batch[0]
            if isinstance(first, _Call):
                if first.future.set_running_or_notify_cancel():
                    try:
                        first.future.set_result(first.fn(*first.args, **first.kwargs))
                    except BaseException as e:  # handed to the caller, as a pool does
                        first.future.set_exception(e)
                continue
            lines = [b for b in batch if isinstance(b, _Line)]
            with holding():  # the group's radio commands and answers: one wake-up of the loop
                try:
                    answers = self.run_group([(ln.raw, ln.origin) for ln in lines])
                except BaseException as e:  # run_group contains failures itself: this is a last resort
                    log.exception("group of %d line(s) failed", len(lines))
                    self._release([(ln.done, None, e) for ln in lines])
                    continue
                self.groups += 1
                self.grouped_lines += len(lines)
                self._release([(ln.done, a, None) for ln, a in zip(lines, answers, strict=True)])

    @staticmethod
    def _release(results: list[tuple["asyncio.Future[A]", A | None, BaseException | None]]) -> None:
        """Hand the answers of one group to their loops (chf.runtime.handoff: one wake-up per loop)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[A], A | None, BaseException | None]]] = {}
        for r in results:
            by_loop.setdefault(r[0].get_loop(), []).append(r)
        for loop, rs in by_loop.items():
            handoff(loop).post(_settle, rs)


def _settle(results: list[tuple["asyncio.Future[Any]", Any, BaseException | None]]) -> None:
    for done, answer, error in results:
        if done.done():  # its connection went away meanwhile
            continue
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(answer)
