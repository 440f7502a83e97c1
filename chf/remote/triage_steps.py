"""Returned-meter triage (SECMP0013 §2.6.2): find which of the three states a returned meter is in, bring it
back into communication through a QA hub, check it, divorce it for re-deployment, and say what happened.

State 1: the meter joins the QA hub normally (it had already left its old HAN).
State 2: still bound to its old HAN; restoring its old-hub device-log entry on the QA hub (SR 8.16 →
         CCS03, a Trust Centre swap-out) brings it back by a trust-centre re-join.
State 3: neither works: not communicating. The verdict says what was tried.

The procedure is a client of the hubs' WAN ports (`HubLink`); every frame sent and received is kept per step.
Each GBCS command is named with the DUIS service request it stands for (DUIS SR ↔ GBCS use-case table).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Protocol

from chf.remote.hub_link import HubLink, Traffic, head
from chf.remote.inventory.logs import HubLogs, LogEntry, hub_logs_from_message
from chf.remote.triage import TriageError, entry_from_backup
from chf.remote.triage_gate import TriageGate
from gbcs import message
from gbcs.errors import DecodeError
from gbcs.frame import decode_frame
from gbcs.grouping_header import Cra

# DUIS service request each use case stands for (SECMP0013 Annex A; DUIS SR ↔ GBCS use-case sheet).
SERVICE_REQUESTS = {
    "CCS01": "SR 8.11", "CCS02": "SR 8.11", "CCS03": "SR 8.16", "CCS06": "SR 8.9", "CCS07": "SR 8.9",
    "CS07": "SR 8.9", "CS03A1": "SR 8.7.1", "CS03A2": "SR 8.7.1", "CS03B": "SR 8.7.2", "CS03C": "SR 8.7.1",
    "CS04AC": "SR 8.8.1", "CS04B": "SR 8.8.2", "ECS52": "SR 11.2", "GCS38": "SR 11.2", "CS08": "SR 11.2",
    "DISCONNECT": "SR 8.15",
}


class Remote(Protocol):
    """Builds commands as the remote party (ACB on behalf of the supplier) for one hub (`hub`) or a meter."""

    def chf(self, hub: bytes, use_case: str, **params: object) -> bytes: ...

    def meter(self, hub: bytes, meter: bytes, use_case: str, **params: object) -> bytes: ...

    def use_case(self, frame: bytes) -> str: ...

    def observe(self, sent: bytes, received: list[bytes]) -> None:
        """Tell the inventory mirror what was sent and what came back (SECMP0013 Annex A rules)."""


@dataclass
class HubRef:
    name: str
    eui: bytes
    link: HubLink


@dataclass
class MeterInfo:
    eui: bytes
    type: str           # esme | gsme | ppmid | ihd
    install_code: bytes


@dataclass
class Step:
    name: str
    service_request: str
    outcome: str = "running"   # ok | failed | timeout | skipped
    seconds: float = 0.0
    detail: str = ""
    frames: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "service_request": self.service_request, "outcome": self.outcome,
                "seconds": round(self.seconds, 3), "detail": self.detail, "frames": self.frames}


@dataclass
class MeterReport:
    meter: str
    state: int | None = None
    redeployable: bool = False
    verdict: str = ""
    steps: list[Step] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"meter": self.meter, "state": self.state, "redeployable": self.redeployable,
                "verdict": self.verdict, "steps": [s.as_dict() for s in self.steps]}


@dataclass
class Timing:
    """Real-time limits derived from the bench (its emulated time runs `time_scale` times faster)."""

    join_window_s: int = 90          # CCS01 join_timeout (emulated seconds)
    keep_alive_s: float = 30.0       # meters' TC keep-alive period (emulated)
    time_scale: float = 1.0
    response_s: float = 5.0          # a routed command's response (real seconds)

    def real(self, emulated_s: float) -> float:
        return emulated_s / self.time_scale

    slack_s: float = 0.3             # real seconds on top of emulated waits: the radio's and the hubs' own latency

    @property
    def join_wait(self) -> float:
        return self.real(self.join_window_s) + self.slack_s

    @property
    def rejoin_wait(self) -> float:
        return self.real(4 * self.keep_alive_s) + 2 * self.slack_s  # 3 missed keep-alives, the search, the re-join

    poll_s: float = 7.5              # a sleepy GSME's poll period (emulated): when it fetches a queued command

    def probe_wait(self, meter_type: str) -> float:
        """How long a CS07 probe waits for a meter's answer: a reachable meter answers within a round trip (real
        time, whatever the bench's time scale), a GSME when it next polls."""
        return min(self.response_s, 2 * self.slack_s + (self.real(self.poll_s) if meter_type == "gsme" else 0.0))


Progress = Callable[[str, str, float], None]  # (step name, what it waits for, timeout s)

LOOK_STEP = "look: the hubs' device logs, and a CS07 through a hub that holds the meter"
JOIN_STEP = "join on the QA hub (install code)"
RESTORE_STEP = "restore the old hub's entry on the QA hub"
CONFIRM_STEP = "confirm its factory join state: it joins again with its install code"


@dataclass
class Facts:
    """What triage found before it changed anything, and what it has changed on the QA hub since."""

    qa_entry: LogEntry | None = None      # the QA hub's current device log entry for the meter
    qa_historic: bool = False             # the meter is in the QA hub's historic device log
    old_entry: LogEntry | None = None
    old_historic: bool = False
    answers_via: "HubRef | None" = None   # the hub a CS07 to the meter was answered through
    on_qa_now: bool = False               # the QA hub's device log holds the meter now

    @property
    def found_on_qa(self) -> bool:
        return self.qa_entry is not None


def _success_dlms(frame: bytes | None) -> bool:
    """A DLMS access-response whose every result is 0 (success)."""
    if frame is None:
        return False
    from gbcs import dlms

    try:
        h = decode_frame(frame).header
        r = dlms.decode(h.payload, h.offsets["payload"])
    except DecodeError:
        return False
    return isinstance(r, dlms.AccessResponse) and all(x.result == 0 for x in r.results)


def _payload_tag(frame: bytes) -> int | None:
    try:
        p = decode_frame(frame).header.payload
    except DecodeError:
        return None
    return p[0] if p else None


def _asn1_code(frame: bytes | None, disconnect_code: int | None = None) -> int | None:
    """The response code of a meter's ASN.1 response (Join/UnjoinDeviceResponse, Disconnect under
    `disconnect_code`: the value itself; ReadDeviceJoinDetailsResponse: its responseCode), read with the gbcs
    ASN.1 decoder."""
    if frame is None:
        return None
    from gbcs import message

    try:
        value = getattr(message.decode(frame, verify=False, disconnect_code=disconnect_code).payload, "value", None)
    except DecodeError:
        return None
    if isinstance(value, dict):
        value = value.get("responseCode")
    return value if isinstance(value, int) else None


def _cs14_hash(frame: bytes, meter: bytes) -> bytes | None:
    """The hashed TC link key a CS14 alert (or CCS07 backup) holds for `meter`, if any."""
    try:
        h = decode_frame(frame).header
    except DecodeError:
        return None
    if h.cra is not Cra.ALERT or h.message_code != 0x0018:
        return None
    try:
        return entry_from_backup(frame, meter)[1]
    except (TriageError, DecodeError):
        return None


_ABSENT = "absent"


@lru_cache(maxsize=1024)
def _is_cs14(frame: bytes) -> bool:
    h = head(frame)
    return h is not None and h.cra is Cra.ALERT and h.message_code == 0x0018


def _cs14_entry(frame: bytes, meter: bytes) -> bytes | str | None:
    """None when `frame` is not a CS14 alert; else the meter's entry in its device log backup: its hashed TC link
    key (empty before it joined), or `_ABSENT`."""
    if not _is_cs14(frame):
        return None
    try:
        return entry_from_backup(frame, meter)[1]
    except (TriageError, DecodeError):
        return _ABSENT


class Triage:
    """Runs the procedure for one meter at a time against a QA hub (and the meter's old hub, when known)."""

    def __init__(self, remote: Remote, qa: HubRef, old: HubRef | None, timing: Timing,
                 ppmid: MeterInfo | None = None, progress: Progress | None = None,
                 disconnect_code: int | None = None, gate: TriageGate | None = None) -> None:
        self.remote, self.qa, self.old, self.t = remote, qa, old, timing
        self.gate = gate or TriageGate()  # what meters triaged at once share (chf/remote/triage_gate.py)
        self._meter: bytes | None = None                 # the meter in triage now
        self._last_cs14: dict[int, tuple[int, bytes | None]] = {}  # per connection: journal scanned to, last CS14
        self._asked: set[tuple[bytes, bytes, int]] = set()  # (from, to, counter) of the answers to this meter's commands
        self.disconnect_code = disconnect_code  # the provisional Disconnect code the remote sends (None: default)
        self.ppmid = ppmid
        self.progress = progress or (lambda name, waiting, timeout: None)

    # -------------------------------------------------------------------------------------------- plumbing
    def _step(self, report: MeterReport, name: str, use_case: str) -> Step:
        s = Step(name, SERVICE_REQUESTS.get(use_case, ""))
        report.steps.append(s)
        return s

    def _run(self, step: Step, body: Callable[[Step], bool], links: list[HubLink]) -> bool:
        marks = [len(link.journal) for link in links]
        me = threading.get_ident()
        t0 = time.monotonic()
        try:
            ok = body(step)
        except ConnectionError as e:
            ok, step.detail = False, f"hub connection lost: {e}"
        step.seconds = time.monotonic() - t0
        # The alerts a command raises (the CS14 after CCS01, CCS02, CCS03) follow its response on the same
        # connection and belong to this step: wait until each hub this step talked to has flushed them.
        for link, m in zip(links, marks, strict=False):
            if any(tr.direction == "sent" and tr.by == me for tr in link.journal[m:]):
                try:
                    link.settle(self.t.response_s)
                except ConnectionError:
                    pass  # the hub is gone: what it sent is already in the journal
        if step.outcome == "running":
            step.outcome = "ok" if ok else "failed"
        seen: list[Traffic] = []
        for link, m in zip(links, marks, strict=False):
            seen += self._own(link, m, len(link.journal)) if self.gate.parallel else link.journal[m:]
        for tr in sorted(seen, key=lambda x: x.at):
            step.frames.append({"direction": tr.direction, "hex": tr.frame.hex().upper(),
                                "use_case": self.remote.use_case(tr.frame)})
        received = [tr.frame for tr in seen if tr.direction == "received"]
        for tr in seen:
            if tr.direction == "sent":
                self.remote.observe(tr.frame, received)
        return ok

    def _chf(self, hub: HubRef, step: Step, what: str, use_case: str, **p: object) -> bytes | None:
        """A CHF command to `hub`, built (its counter drawn) and sent under the hub's lock: meters triaged at once
        share one connection per hub, whose lines the hub reads in order, so it sees their counters increase
        (TriageGate.command). The answer is waited for outside the lock."""
        self.progress(step.name, what, self.t.response_s)
        with self.gate.command(hub.eui):
            frame = self.remote.chf(hub.eui, use_case, **p)
            mark = hub.link.send(frame)
        return self._answered(hub, frame, mark, step, what)

    def _request(self, hub: HubRef, frame: bytes, step: Step, what: str) -> bytes | None:
        self.progress(step.name, what, self.t.response_s)
        return self._answered(hub, frame, hub.link.send(frame), step, what)

    def _answered(self, hub: HubRef, frame: bytes, mark: int, step: Step, what: str) -> bytes | None:
        r = hub.link.answer(frame, self.t.response_s, mark)
        if r is None:
            step.outcome, step.detail = "timeout", f"timeout waiting for {what} ({self.t.response_s:.0f} s)"
        return r

    def _own(self, link: HubLink, start: int, end: int) -> list[Traffic]:
        """In a parallel run, the frames of `link.journal[start:end]` that concern the meter in triage (the link
        is shared by every meter under way): what this worker sent, the responses to it, and of the alerts (a
        hub's CS14 after a CHF command or a device's join, a device's own alerts) those about this meter: a CS14
        that changes its entry (added, joined, removed, restored), an alert it raised, or any other alert
        naming it. Serially every frame on the connection during a step is kept."""
        eui = self._meter
        journal = link.journal[:end]
        if eui is None:
            return journal[start:]
        me = threading.get_ident()
        scanned, last = self._last_cs14.get(id(link), (0, None))
        for tr in journal[scanned:start]:  # the CS14s since this worker last looked: the meter's entry now
            if tr.direction == "received" and _is_cs14(tr.frame):
                last = tr.frame
        prev = _ABSENT if last is None else _cs14_entry(last, eui)
        out = []
        for tr in journal[start:]:
            if tr.direction == "sent":
                if tr.by == me:
                    out.append(tr)
                    h = head(tr.frame)
                    if h is not None:
                        self._asked.add((h.recipient, h.originator, h.counter))
                continue
            h = head(tr.frame)
            if h is None:
                continue
            if h.cra is Cra.RESPONSE:
                if (h.originator, h.recipient, h.counter) in self._asked:
                    out.append(tr)
            elif _is_cs14(tr.frame):
                entry = _cs14_entry(tr.frame, eui)
                if entry != prev:
                    out.append(tr)
                prev, last = entry, tr.frame
            elif h.originator == eui or eui in tr.frame:
                out.append(tr)
        self._last_cs14[id(link)] = (len(journal), last)
        return out

    # -------------------------------------------------------------------------------------------- steps
    def _join(self, m: MeterInfo, step: Step, facts: "Facts | None" = None) -> bool:
        """CCS01 on the QA hub with the install code; joined when a CS14 shows a non-empty hash for it."""
        mark = len(self.qa.link.journal)
        while True:
            r = self._chf(self.qa, step, "the CCS01 response", "CCS01", device=m.eui, install_code=m.install_code,
                          device_type=m.type, join_timeout=self.t.join_window_s)
            # Refused (a full device log, most likely) while other meters in triage hold entries: once one has
            # finished, try again, so that the verdict is the one a run of one meter at a time gives.
            if r is None or _success_dlms(r):
                break
            self.progress(step.name, "another meter to finish (the QA hub refused the CCS01: its log is full?)", 0.0)
            if not self.gate.wait_for_room():
                break
        if not _success_dlms(r):
            if r is not None:
                step.detail = "CCS01 refused by the QA hub (unexpected response code)"
            return False
        if facts is not None:
            facts.on_qa_now = True
        self.progress(step.name, "a CS14 alert with the meter's TC link key hash (join)", self.t.join_wait)
        since = sum(1 for tr in self.qa.link.journal[:mark] if tr.direction == "received")
        got = self.qa.link.wait_for(lambda f: bool(_cs14_hash(f, m.eui)), self.t.join_wait, since)
        if got is None:
            step.outcome = "timeout"
            step.detail = f"timeout waiting for join: no CS14 with a TC link key hash within {self.t.join_wait:.1f} s"
            return False
        step.detail = "joined with its install code"
        return True

    def _restore(self, m: MeterInfo, step: Step, cut: dict) -> bool:
        """CCS07 on the old hub, cut the meter's entry, CCS03 on the QA hub, wait for the TC re-join."""
        if self.old is None:
            step.outcome, step.detail = "skipped", "no old hub given (--old): nothing to restore from"
            return False
        r = self._chf(self.old, step, "the old hub's CCS07 response", "CCS07")
        if r is None:
            return False
        try:
            epid, hashed = entry_from_backup(r, m.eui)
        except (TriageError, DecodeError):
            step.detail = "the meter is in neither of the old hub's device logs (current, historic)"
            return False
        if not hashed:
            step.detail = "the old hub's entry has no TC link key hash: the meter never joined it"
            return False
        cut.update(epid=epid, hashed=hashed)
        # A restore replaces the QA hub's whole device log: only with no other meter in triage (TriageGate).
        self.progress(step.name, "the other meters in triage to finish (a restore replaces the QA hub's log)", 0.0)
        self.gate.restore()
        r = self._chf(self.qa, step, "the CCS03 response", "CCS03", epid=epid, entries=[(m.eui, hashed)])
        if not _success_dlms(r):
            if r is not None:
                step.detail = "CCS03 refused by the QA hub (unexpected response code)"
            return False
        cut["restored"] = True
        self.progress(step.name, "the meter's trust-centre re-join (it answers CS07)", self.t.rejoin_wait)
        deadline = time.monotonic() + self.t.rejoin_wait
        while time.monotonic() < deadline:
            frame = self.remote.meter(self.qa.eui, m.eui, "CS07")
            if self.qa.link.request(frame, min(self.t.response_s, max(0.2, deadline - time.monotonic()))):
                step.detail = "trust-centre re-joined the QA hub with its restored entry"
                return True
        step.outcome = "timeout"
        step.detail = f"timeout waiting for the trust-centre re-join ({self.t.rejoin_wait:.1f} s)"
        return False

    def _meter_ok(self, m: MeterInfo, use_case: str, step: Step, want_code: int | None = 0,
                  via: HubRef | None = None, **kw: object) -> bool:
        hub = via or self.qa
        r = self._request(hub, self.remote.meter(hub.eui, m.eui, use_case, **kw), step,
                          f"the meter's {use_case} response")
        if r is None:
            return False
        if want_code is None:  # a DLMS read must succeed; a GBZ or ASN.1 answer is the read itself
            ok = _success_dlms(r) if _payload_tag(r) == 0xDA else True
            if not ok:
                step.detail = "the read failed (DLMS result not success)"
        else:
            code = _asn1_code(r, self.disconnect_code)
            ok = code == want_code
            if not ok:
                step.detail = f"unexpected response code {code} (expected {want_code})"
        return ok


    def _ccs02(self, m: MeterInfo, step: Step) -> bool:
        return _success_dlms(self._chf(self.qa, step, "the CCS02 response", "CCS02", device=m.eui))

    def _read_logs(self, hub: HubRef, step: Step) -> HubLogs | None:
        """CCS07 on `hub`: its current and historic device logs (None when it does not answer)."""
        r = self._chf(hub, step, f"the {hub.name} hub's CCS07 response", "CCS07")
        if r is None:
            return None
        try:
            logs = hub_logs_from_message(message.decode(r, verify=False))
        except DecodeError:
            logs = None
        if logs is None:
            step.detail = f"the {hub.name} hub's CCS07 response holds no device logs"
        return logs

    def _probe(self, m: MeterInfo, hub: HubRef, step: Step) -> bool:
        """A CS07 through `hub`: does the meter answer there now? A meter the hub reaches answers within a round
        trip (a sleepy GSME when it next polls); one it cannot reach never does."""
        wait = self.t.probe_wait(m.type)
        self.progress(step.name, f"the meter's CS07 response through the {hub.name} hub", wait)
        return hub.link.request(self.remote.meter(hub.eui, m.eui, "CS07"), wait) is not None

    def _look(self, m: MeterInfo, step: Step, facts: Facts) -> bool:
        """What is already true, before anything is changed: the QA hub's device logs (CCS07: current and
        historic), the old hub's, and whether the meter answers a CS07 through a hub whose log holds it with a TC
        link key hash."""
        eui = m.eui.hex().upper()
        seen: list[str] = []
        qa = self._read_logs(self.qa, step)
        if qa is None:
            return False
        facts.qa_entry = qa.find(eui)
        facts.qa_historic = qa.find_historic(eui) is not None
        facts.on_qa_now = facts.qa_entry is not None
        if facts.qa_entry is not None:
            seen.append("in the QA hub's device log" + ("" if facts.qa_entry.hashed_key else " (no TC link key yet)"))
        elif facts.qa_historic:
            seen.append("in the QA hub's historic device log")
        if self.old is not None:
            old = self._read_logs(self.old, step)
            if old is None:
                return False
            facts.old_entry = old.find(eui)
            facts.old_historic = old.find_historic(eui) is not None
            if facts.old_entry is not None:
                seen.append("in the old hub's device log" + ("" if facts.old_entry.hashed_key else " (no TC link key)"))
            elif facts.old_historic:
                seen.append("in the old hub's historic device log")
        for hub, entry in ((self.qa, facts.qa_entry), (self.old, facts.old_entry)):
            if hub is None or entry is None or not entry.hashed_key:
                continue
            if self._probe(m, hub, step):
                facts.answers_via = hub
                seen.append(f"answers CS07 through the {hub.name} hub")
                break
            seen.append(f"no CS07 answer through the {hub.name} hub")
        step.detail = "; ".join(seen) if seen else "in no device log of the QA hub" + (" or the old hub" if self.old
                                                                                       else "")
        return True

    # -------------------------------------------------------------------------------------------- procedure
    def run(self, m: MeterInfo) -> MeterReport:
        """Triage one meter (`_triage`), as one of the meters in triage on the QA hub (TriageGate)."""
        self.gate.enter()
        try:
            self._meter = m.eui
            self._asked = set()
            return self._triage(m)
        finally:
            self._meter = None
            self.gate.leave()
            self.progress("", "", 0.0)  # nothing under way on this worker

    @property
    def meter(self) -> bytes | None:
        """The EUI of the meter in triage now (None between meters)."""
        return self._meter

    def _links(self) -> list[HubLink]:
        return [self.qa.link] + ([self.old.link] if self.old else [])

    def _triage(self, m: MeterInfo) -> MeterReport:
        """Look first, classify from what is true, bring the meter into communication only where it is not, check
        it, divorce it, and leave it no worse than it was found: the clean-up removes only what this run added."""
        rep = MeterReport(m.eui.hex().upper())
        links = self._links()
        facts = Facts()
        look = self._step(rep, LOOK_STEP, "CCS07")
        self._run(look, lambda st: self._look(m, st, facts), links)
        via = facts.answers_via
        found = ""
        if via is not None:
            rep.state = 2  # bound to a HAN and communicating through it: no join or restore needed
            found = "found communicating " + ("on the QA hub" if via is self.qa else f"on the {via.name} hub's HAN")
        elif self._bring_in(rep, m, facts, links):
            via = self.qa
        else:
            rep.state = 3
            join = next((st for st in rep.steps if st.name == JOIN_STEP), None)
            restore = next((st for st in rep.steps if st.name == RESTORE_STEP), None)
            rep.verdict = ("not communicating: no join with its install code ("
                           + (join.detail or join.outcome if join else "not tried") + "); restore: "
                           + (restore.detail or restore.outcome if restore else "not tried"))
            self._leave_as_found(rep, m, facts, links, joined=False)
            return rep
        checks_ok = self._checks(rep, m, links, via)
        divorced = self._divorce(rep, m, links, via, facts)
        rep.redeployable = checks_ok and divorced
        lead = f"state {rep.state}: " + (f"{found}; " if found else "")
        if rep.redeployable:
            end = ("left on the QA hub, where it was found" if facts.found_on_qa
                   else "divorced again and removed from the QA hub")
            rep.verdict = (f"{lead}communicating, checks passed, divorced and back in its factory join state (it "
                           f"joined again with its install code); {end}: re-deployable")
        else:
            bad = next((st for st in rep.steps if st.outcome not in ("ok", "skipped")
                        and st.name not in (LOOK_STEP, JOIN_STEP, RESTORE_STEP)), None)
            rep.verdict = f"{lead}not re-deployable: {bad.name}: {bad.detail or bad.outcome}" if bad \
                else f"{lead}not re-deployable"
        return rep

    def _bring_in(self, rep: MeterReport, m: MeterInfo, facts: Facts, links: list[HubLink]) -> bool:
        """Bring a meter that answers nowhere into communication through the QA hub: a normal join (state 1) or a
        restore of the old hub's entry (state 2). A meter the old hub still holds (current log, with a hash) and
        that has not been on the QA hub since is most likely still bound to the old HAN: restore first; any
        other meter: join first (a meter that left its HAN joins with its install code)."""
        restore_first = (facts.old_entry is not None and bool(facts.old_entry.hashed_key) and not facts.qa_historic
                         and facts.qa_entry is None)
        for what in (("restore", "join") if restore_first else ("join", "restore")):
            if what == "join":
                if facts.on_qa_now:  # a CCS01 naming a device already in the log changes nothing (mapping table CCS01)
                    s = self._step(rep, "remove the QA hub's entry, so that a CCS01 opens an install-code window",
                                   "CCS02")
                    if not self._run(s, lambda st: self._ccs02(m, st), links):
                        continue
                    facts.on_qa_now = False
                s = self._step(rep, JOIN_STEP, "CCS01")
                if self._run(s, lambda st: self._join(m, st, facts), links):
                    rep.state = 1
                    return True
            else:
                s = self._step(rep, RESTORE_STEP, "CCS03")
                if self.old is not None and facts.old_entry is None and not facts.old_historic:
                    s.outcome, s.detail = "failed", "the meter is in neither of the old hub's device logs (current, historic)"
                    continue
                cut: dict = {}
                ok = self._run(s, lambda st, cut=cut: self._restore(m, st, cut), links)
                if cut.get("restored"):
                    facts.on_qa_now = True  # the QA hub's log is now the restored entry
                if ok:
                    rep.state = 2
                    return True
        return False

    def _checks(self, rep: MeterReport, m: MeterInfo, links: list[HubLink], via: HubRef) -> bool:
        ok = True
        ident = {"esme": "ECS52", "gsme": "GCS38", "ppmid": "CS08", "ihd": "CS08"}.get(m.type)
        if ident is not None:
            s = self._step(rep, f"identity and firmware read ({ident})", ident)
            ok &= self._run(s, lambda st: self._meter_ok(m, "IDENTITY", st, want_code=None, via=via,
                                                         meter_type=m.type), links)
        s = self._step(rep, "read the meter's device log", "CS07")
        ok &= self._run(s, lambda st: self._meter_ok(m, "CS07", st, via=via), links)
        if self.ppmid is not None and m.type in ("esme", "gsme"):
            p = self.ppmid
            s = self._step(rep, f"join a PPMID ({p.eui.hex().upper()}) on the meter", "CS03A1")
            ok &= self._run(s, lambda st: self._meter_ok(m, "CS03A1", st, via=via, other=p.eui, other_type="ppmid"),
                            links)
            s = self._step(rep, "re-sent join of the same PPMID succeeds (MP178)", "CS03A1")
            ok &= self._run(s, lambda st: self._meter_ok(m, "CS03A1", st, via=via, other=p.eui, other_type="ppmid"),
                            links)
            s = self._step(rep, "unjoin the PPMID", "CS04AC")
            ok &= self._run(s, lambda st: self._meter_ok(m, "CS04AC", st, via=via, other=p.eui), links)
        return bool(ok)

    def _divorce(self, rep: MeterReport, m: MeterInfo, links: list[HubLink], via: HubRef, facts: Facts) -> bool:
        where = "" if via is self.qa else f" (through the {via.name} hub)"
        s = self._step(rep, "Disconnect Smart Meter from HAN" + where, "DISCONNECT")
        if not self._run(s, lambda st: self._meter_ok(m, "DISCONNECT", st, via=via), links):
            self._leave_as_found(rep, m, facts, links, joined=True)
            return False
        if facts.on_qa_now:
            s = self._step(rep, "remove it from the QA hub", "CCS02")
            if self._run(s, lambda st: self._ccs02(m, st), links):
                facts.on_qa_now = False
        s = self._step(rep, CONFIRM_STEP, "CCS01")
        back = self._run(s, lambda st: self._join(m, st, facts), links)
        return self._leave_as_found(rep, m, facts, links, joined=back) and back

    def _leave_as_found(self, rep: MeterReport, m: MeterInfo, facts: Facts, links: list[HubLink],
                        joined: bool) -> bool:
        """Undo what this run added and nothing else. A meter this run put on the QA hub (`joined`: it is on the
        QA hub's HAN now) is divorced again, so that it leaves in its factory join state, and its entry removed;
        a meter found in the QA hub's log is left there (put back if this run took it out)."""
        ok = True
        if not facts.found_on_qa and facts.on_qa_now:
            if joined:
                s = self._step(rep, "divorce it again: it leaves in its factory join state", "DISCONNECT")
                ok &= self._run(s, lambda st: self._meter_ok(m, "DISCONNECT", st), links)
            s = self._step(rep, "leave the QA hub clean (remove the entry this triage added)", "CCS02")
            if self._run(s, lambda st: self._ccs02(m, st), links):
                facts.on_qa_now = False
            else:
                ok = False
        elif facts.found_on_qa and not facts.on_qa_now:
            s = self._step(rep, "put it back in the QA hub's device log, where it was found", "CCS01")
            ok &= self._run(s, lambda st: _success_dlms(self._chf(
                self.qa, st, "the CCS01 response", "CCS01", device=m.eui, install_code=m.install_code,
                device_type=m.type, join_timeout=self.t.join_window_s)), links)
            facts.on_qa_now = True
        return bool(ok)
