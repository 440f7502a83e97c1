"""A batch of returned meters triaged up to N at once on one QA hub (`chf triage --meters FILE --parallel N`).

Each worker is a `Triage` (sharing the run's connection to each hub) and runs one meter at a time, each meter's
steps in order; what the workers share is kept apart by their common `TriageGate` (counters in order per hub, one
restore at a time: chf/remote/triage_gate.py). A meter named twice in the batch is triaged twice, one run after the other by
the same worker (a second run classifies it as the first left it, as serially). Reports come back to the caller's
thread as each meter ends (`done(index, report)`), and so do the inventory observations (`QueuedRemote`): the
caller's thread is the one that owns the inventory database.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Callable

from chf.remote.triage_steps import MeterInfo, MeterReport, Remote, Triage


class QueuedRemote:
    """A `Remote` whose inventory observations are queued for the caller's thread (`drain`), in the order they
    were made; building commands is passed straight through (the counter file has its own lock)."""

    def __init__(self, remote: Remote) -> None:
        self.remote = remote
        self._observed: queue.SimpleQueue[tuple[bytes, list[bytes]]] = queue.SimpleQueue()

    def chf(self, hub: bytes, use_case: str, **params: object) -> bytes:
        return self.remote.chf(hub, use_case, **params)

    def meter(self, hub: bytes, meter: bytes, use_case: str, **params: object) -> bytes:
        return self.remote.meter(hub, meter, use_case, **params)

    def use_case(self, frame: bytes) -> str:
        return self.remote.use_case(frame)

    def observe(self, sent: bytes, received: list[bytes]) -> None:
        self._observed.put((sent, received))

    def drain(self) -> None:
        """Hand every queued observation to the wrapped remote (call from the thread that owns the inventory)."""
        while True:
            try:
                sent, received = self._observed.get_nowait()
            except queue.Empty:
                return
            self.remote.observe(sent, received)


def run_batch(meters: list[MeterInfo], workers: list[Triage], done: Callable[[int, MeterReport], None],
              idle: Callable[[], None] = lambda: None) -> list[MeterReport | None]:
    """Triage `meters` with the `workers` (one thread each), in input order of start; `done(i, report)` is called
    on the caller's thread as meter `i` ends, `idle()` between waits (to drain observations). The reports come
    back in input order. An exception that ends a meter's triage (not a failed step: those are in its report)
    stops new meters from starting; the meters under way finish, and it is raised then."""
    units: deque[list[int]] = deque()
    by_eui: dict[bytes, list[int]] = {}
    for i, m in enumerate(meters):
        if m.eui not in by_eui:
            by_eui[m.eui] = []
            units.append(by_eui[m.eui])
        by_eui[m.eui].append(i)
    cv = threading.Condition()
    finished: deque[tuple[int, MeterReport]] = deque()
    errors: list[BaseException] = []

    def work(t: Triage) -> None:
        while True:
            with cv:
                if errors or not units:
                    return
                unit = units.popleft()
            for i in unit:
                try:
                    rep = t.run(meters[i])
                except BaseException as e:  # handed to the caller's thread, raised there
                    with cv:
                        errors.append(e)
                        cv.notify_all()
                    return
                with cv:
                    finished.append((i, rep))
                    cv.notify_all()

    threads = [threading.Thread(target=work, args=(t,), name=f"triage-{n}", daemon=True)
               for n, t in enumerate(workers[:max(1, len(units))])]
    for th in threads:
        th.start()
    reports: list[MeterReport | None] = [None] * len(meters)
    while True:
        with cv:
            alive = any(th.is_alive() for th in threads)  # before taking the batch: a worker that has ended
            if not finished and alive:                    # put its last report in `finished` first
                cv.wait(0.05)
            batch = list(finished)
            finished.clear()
        idle()
        for i, rep in batch:
            reports[i] = rep
            done(i, rep)
        if not batch and not alive:
            break
    idle()
    if errors:
        raise errors[0]
    return reports
