"""What meters triaged at once on one QA hub share, and the rules that keep them out of each other's way
(`chf triage --parallel N`, docs/triage.md).

Each meter's own state on a hub is its own: its device-log entry and join window (CCS01 opens a window per device,
CCS02 removes one entry: chf/core/objects.py), its historic entry, the commands routed to it. Two things are not:

- **The originator counter.** A hub refuses a command whose counter is not above the last it accepted from the same
  originator (anti-replay, chf/core/hub.py). The workers share one connection to each hub, whose lines the hub
  reads and acts on in order (chf/runtime/wan.py); a CHF command is built (its counter drawn) and sent under the
  hub's lock (`command`), so the counters reach the hub in the order they were drawn, and the answer is waited for
  outside the lock (commands to one hub are pipelined). Commands routed to a meter are checked by that meter alone;
  one meter's commands are sent in order by one worker.
- **The whole device log.** A restore (CCS03, SR 8.16) replaces the QA hub's whole device log and its Extended
  PAN ID and clears every join window (mapping table CCS03): it would take every other meter in triage off the QA
  hub. So a meter restores only when no other meter is in triage (`restore` waits for the others to finish, and
  no new meter starts meanwhile), and no second restore happens before that meter's triage is over (its restored
  entry is removed by its own clean-up). Meters started after the restore use the QA hub beside it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TriageGate:
    """The counters' order per hub and the restore rule above, for the meters of one `chf triage` run. With one
    worker every wait returns at once: the serial run goes through the same gate."""

    def __init__(self, parallel: bool = False) -> None:
        self.parallel = parallel
        self._cv = threading.Condition()
        self._present = 0               # meters in triage, other than the one whose restore is on the QA hub
        self._restorer: int | None = None  # the worker (thread id) whose restored entry is on the QA hub
        self._waiting = 0               # meters waiting to restore: no new meter starts until they have
        self._hub_locks: dict[bytes, threading.Lock] = {}
        self._left = 0                  # meters whose triage is over, so far

    @contextmanager
    def command(self, hub: bytes) -> Iterator[None]:
        """Hold while building a CHF command for `hub` (drawing its counter) and sending it on the connection the
        workers share: the hub acts on counters in the order they were drawn."""
        with self._cv:
            lock = self._hub_locks.setdefault(hub, threading.Lock())
        with lock:
            yield

    def enter(self) -> None:
        """A meter's triage starts: at once, unless a meter waits to restore and no restore is on (then after
        that restore has been made)."""
        with self._cv:
            while self._waiting and self._restorer is None:  # while a restore is on, the waiting one waits anyway
                self._cv.wait()
            self._present += 1

    def restore(self) -> None:
        """Called by a meter in triage just before its CCS03: wait until it is the only meter in triage and no
        other restore is on the QA hub; from then on it is the restorer until it `leave`s."""
        me = threading.get_ident()
        with self._cv:
            if self._restorer == me:
                return
            self._present -= 1
            self._waiting += 1
            self._cv.notify_all()  # a meter waiting for room may have been waiting for this one alone
            try:
                while self._present or self._restorer is not None:
                    self._cv.wait()
            finally:
                self._waiting -= 1
            self._restorer = me
            self._cv.notify_all()

    def leave(self) -> None:
        """A meter's triage is over (whatever its outcome)."""
        with self._cv:
            if self._restorer == threading.get_ident():
                self._restorer = None
            else:
                self._present -= 1
            self._left += 1
            self._cv.notify_all()

    def wait_for_room(self) -> bool:
        """The QA hub refused a meter's CCS01 (a full device log, most likely: each meter in triage holds an
        entry): wait until another meter's triage is over and say True, or say False as soon as no other meter is
        in triage (the refusal is then the hub's answer, as in a serial run)."""
        with self._cv:
            left = self._left
            while self._left == left:
                if not self._others():
                    return False
                self._cv.wait()
            return True

    def _others(self) -> int:
        """How many meters other than the calling worker's are in triage, a restorer included (under `_cv`)."""
        me = threading.get_ident()
        if self._restorer == me:
            return self._present
        return self._present - 1 + (self._restorer is not None)
