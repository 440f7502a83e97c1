"""Calls handed from worker threads to an event loop, in order, with as few wake-ups of the loop as can be.

Each `loop.call_soon_threadsafe` wakes the loop through its self-pipe: a system call on both sides and a GIL
hand-over, per call. A hub's worker hands over a command's radio commands and its answer; with group commit
(chf/runtime/hub_lane.py) it hands over those of a whole group. `handoff(loop).post(fn, *args)` queues a call and
wakes the loop only when no wake-up is pending already; inside `holding()` a thread's posts wake their loops once,
at its end (the hub lane holds over a group's outcomes and answers). Calls run on the loop in the order posted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("chf.runtime.handoff")

_boxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, "Handoff"] = weakref.WeakKeyDictionary()
_boxes_lock = threading.Lock()
_held = threading.local()  # `inboxes`: the handoffs this thread posted to inside `holding`, or None


class Handoff:
    """The calls waiting for one loop (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self._lock = threading.Lock()
        self._due = False  # the loop has been woken for the calls waiting

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Thread-safe: run `fn(*args)` on the loop, after every call posted before it."""
        held: set[Handoff] | None = getattr(_held, "inboxes", None)
        with self._lock:
            self._calls.append((fn, args))
            if self._due:
                return
            if held is not None:
                held.add(self)
                return
            self._due = True
        self._wake()

    def _wake_if_waiting(self) -> None:
        with self._lock:
            if self._due or not self._calls:
                return
            self._due = True
        self._wake()

    def _wake(self) -> None:
        try:
            self.loop.call_soon_threadsafe(self._run)
        except RuntimeError:  # the loop is closed: nobody is left to run these
            with self._lock:
                self._calls.clear()
                self._due = False

    def _run(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
            self._due = False
        for fn, args in calls:
            try:
                fn(*args)
            except Exception:
                log.exception("call handed to the loop failed: %s", getattr(fn, "__name__", fn))


def handoff(loop: asyncio.AbstractEventLoop) -> Handoff:
    """The one `Handoff` of `loop`."""
    with _boxes_lock:
        box = _boxes.get(loop)
        if box is None:
            box = _boxes[loop] = Handoff(loop)
        return box


@contextmanager
def holding() -> Iterator[None]:
    """Posts this thread makes inside wake their loops once, at the end (nested: at the outermost end)."""
    if getattr(_held, "inboxes", None) is not None:
        yield
        return
    _held.inboxes = set()
    try:
        yield
    finally:
        boxes: set[Handoff] = _held.inboxes
        _held.inboxes = None
        for box in boxes:
            box._wake_if_waiting()


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Run `fn(*args)` on `loop`: at once when called there (or when the loop is not running: nobody else would),
    else handed over in order with this thread's other hand-offs to it."""
    if loop.is_running():
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            handoff(loop).post(fn, *args)
            return
    fn(*args)
