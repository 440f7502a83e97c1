"""Group commit (issue 18 item 3): commands that arrive together commit in one transaction, and none of them is
answered before that commit; a failed commit answers none of the changes and leaves the state as before."""

from __future__ import annotations

import asyncio
import threading
from copy import deepcopy
from datetime import datetime, timezone

import pytest

from chf.config.keygen import init_keys
from chf.core.clock import FixedClock
from chf.core.device_log import DeviceLog
from chf.core.hub import Hub, HubConfig
from chf.core.identity import RTDS
from chf.core.state import HubState
from chf.core.store import StoreError
from chf.remote.commands import CounterFile, RemoteParty, ccs01, ccs02, ccs06
from chf.runtime.hub_lane import HubLane
from chf.runtime.wan import Dispatcher
from gbcs.frame import decode_frame
from gbcs.gfi import decode_line, encode_line
from gbcs.grouping_header import Cra
from gbcs.keys import KeyStore

DEVICES = [bytes.fromhex("00DB12345678CC") + bytes([n]) for n in range(6)]
IC = bytes(range(16))


class MemoryStore:
    """A Store without I/O: each commit keeps a deep copy of the state; `fail` makes commits raise StoreError.
    `events` records commits, so a test can tell what happened before and after them."""

    def __init__(self) -> None:
        self.committed: HubState | None = None
        self.commits = 0
        self.fail = False
        self.events: list[str] = []

    def load(self, default_epid: bytes, capacity: int) -> HubState:
        if self.committed is None:
            return HubState(default_epid, DeviceLog(capacity))
        return deepcopy(self.committed)

    def save(self, st: HubState) -> None:
        if self.fail:
            self.events.append("failed commit")
            raise StoreError("memory: disk full (test); nothing was written")
        self.committed = deepcopy(st)
        self.commits += 1
        self.events.append("commit")


@pytest.fixture(scope="module")
def pki_keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    pki = init_keys(d)
    return pki, KeyStore.from_directory(d, acb=pki.eui("acb"))


@pytest.fixture
def rig(pki_keys):
    pki, keys = pki_keys
    store = MemoryStore()
    hub = Hub(HubConfig(RTDS.with_overrides(eui=pki.eui("hub")), pki.eui("acb")), keys, store,
              FixedClock(datetime(2022, 1, 1, tzinfo=timezone.utc)))
    party = RemoteParty(keys, pki.eui("acb"), pki.eui("hub"), pki.eui("supplier"), CounterFile(None))
    return hub, store, party


def committed_devices(store: MemoryStore) -> set[bytes]:
    return set() if store.committed is None else {e.eui for e in store.committed.device_log.entries()}


# ------------------------------------------------------------------------------------------ the core
def test_a_group_runs_in_order_and_commits_once(rig):
    hub, store, party = rig
    frames = [party.build(ccs01(d, IC)) for d in DEVICES] + [party.build(ccs02(DEVICES[0]))]
    outs = hub.handle_group([(f, None) for f in frames])
    assert store.commits == 1  # one transaction for the seven commands
    assert all(o.error is None and o.rejection is None for o in outs)
    # each command saw the state the one before it left: the CCS02 removed what the first CCS01 added
    assert committed_devices(store) == set(DEVICES[1:])
    assert store.committed is not None and store.committed.counters[party.originator] == \
        decode_frame(frames[-1]).header.counter
    for f, o in zip(frames, outs, strict=True):
        response = decode_frame(o.frames[0]).header
        assert response.cra is Cra.RESPONSE and response.counter == decode_frame(f).header.counter


def test_a_failed_group_commit_answers_no_change_and_leaves_the_state_as_before(rig):
    hub, store, party = rig
    assert hub.handle(party.build(ccs01(DEVICES[0], IC))).frames
    before, committed_before = hub.snapshot(), store.committed
    store.fail = True
    frames = [party.build(ccs01(d, IC)) for d in DEVICES[1:4]] + [party.build(ccs02(DEVICES[0]))]
    outs = hub.handle_group([(f, None) for f in frames])
    assert all(o.frames == [] and o.han == [] and isinstance(o.error, StoreError) for o in outs)
    assert hub.snapshot() == before  # counters, device log, alert counter: all as before the group
    assert store.committed is committed_before and store.commits == 1  # nothing written
    store.fail = False  # the same frames again: nothing of them was consumed (no counter, no device)
    again = hub.handle_group([(f, None) for f in frames])
    assert all(o.frames for o in again)
    assert committed_devices(store) == set(DEVICES[1:4])


def test_a_read_in_a_failed_group_is_answered_as_alone(rig):
    """As `handle` on a failed commit: a read before any change of the group is answered with its counter held in
    memory, the change is not."""
    hub, store, party = rig
    store.fail = True
    read, change = party.build(ccs06()), party.build(ccs01(DEVICES[0], IC))
    outs = hub.handle_group([(read, None), (change, None)])
    assert outs[1].frames == [] and isinstance(outs[1].error, StoreError)
    assert outs[0].frames and outs[0].error is None
    assert DEVICES[0] not in hub.state.device_log
    assert hub.state.counters[party.originator] == decode_frame(read).header.counter
    assert hub.handle(read).rejected  # a replay of the answered read is refused


def test_a_read_after_a_change_in_a_failed_group_is_not_answered(rig):
    """A read that followed a change of the group saw state the failed commit lost (here a CCS01's device in the
    log a CCS07-style backup would carry): it gets the group's error, not an answer, and its counter is not used."""
    hub, store, party = rig
    store.fail = True
    change, read = party.build(ccs01(DEVICES[0], IC)), party.build(ccs06())
    outs = hub.handle_group([(change, None), (read, None)])
    assert all(o.frames == [] and isinstance(o.error, StoreError) for o in outs)
    assert DEVICES[0] not in hub.state.device_log
    assert party.originator not in hub.state.counters or \
        hub.state.counters[party.originator] < decode_frame(read).header.counter
    store.fail = False
    assert hub.handle(read).frames  # not consumed: the same read is answered once the store works


# ------------------------------------------------------------------------------------------ the runtime
def test_answers_and_radio_commands_are_released_only_after_the_groups_commit(rig):
    hub, store, party = rig
    d = Dispatcher(hub)
    released: list[tuple[int, int]] = []  # (commits at release, radio commands)
    d.after = lambda out: released.append((store.commits, len(out.han)))
    frames = [party.build(ccs01(dev, IC)) for dev in DEVICES[:4]]
    answers = d.answer_group([(encode_line(f), None) for f in frames])
    assert store.events == ["commit"]
    assert len(released) == 4 and all(commits == 1 for commits, _ in released)  # none before the commit
    assert all(n > 0 for _, n in released)  # each CCS01 opened its join window (a Permit), carried out after
    for f, a in zip(frames, answers, strict=True):
        response, alert = (decode_frame(decode_line(line)).header for line in a.lines)
        assert response.counter == decode_frame(f).header.counter and alert.cra is Cra.ALERT


def test_a_failed_group_commit_releases_nothing(rig):
    hub, store, party = rig
    d = Dispatcher(hub)
    released: list[object] = []
    d.after = released.append
    store.fail = True
    answers = d.answer_group([(encode_line(party.build(ccs01(dev, IC))), None) for dev in DEVICES[:3]])
    assert [a.lines for a in answers] == [[], [], []] and all(a.active for a in answers)
    assert all(o.frames == [] and o.han == [] for o in released)  # not a response, not a radio command
    assert store.committed is None and len(hub.state.device_log) == 0


def test_an_unexpected_failure_in_a_group_costs_the_others_nothing(rig, monkeypatch):
    """A bug one frame triggers: the group is dropped (nothing was answered), each command runs again alone."""
    hub, store, party = rig
    d = Dispatcher(hub)
    frames = [party.build(ccs01(dev, IC)) for dev in DEVICES[:3]]
    poison = frames[1]
    real = hub.handle

    def handle(data, origin=None):
        if data == poison:
            raise RuntimeError("a bug")
        return real(data, origin)

    monkeypatch.setattr(hub, "handle", handle)
    answers = d.answer_group([(encode_line(f), None) for f in frames])
    assert answers[1].lines == []
    assert answers[0].lines and answers[2].lines
    assert committed_devices(store) == {DEVICES[0], DEVICES[2]}


def test_control_and_malformed_lines_in_a_group_are_answered_in_place(rig):
    hub, _, party = rig
    d = Dispatcher(hub)
    answers = d.answer_group([(b"CHF:PING\r\n", None), (b"GBCS:DATA#0:2:ZZZZ\r\n", None),
                              (encode_line(party.build(ccs01(DEVICES[0], IC))), None), (b"\r\n", None)])
    assert answers[0].lines == [b"CHF:OK PONG\r\n"]
    assert answers[1].lines[0].startswith(b"ERROR") and not answers[1].active
    assert len(answers[2].lines) == 2
    assert answers[3].lines == [] and not answers[3].active


# ------------------------------------------------------------------------------------------ the lane
def test_the_lane_groups_the_lines_waiting_together_and_keeps_calls_in_order():
    groups: list[list[bytes]] = []
    ran: list[str] = []

    def run_group(lines):
        groups.append([raw for raw, _ in lines])
        ran.append(f"group of {len(lines)}")
        return [raw.upper() for raw, _ in lines]

    lane: HubLane[bytes] = HubLane(run_group, max_group=4)
    gate = threading.Event()

    async def main() -> list[bytes]:
        loop = asyncio.get_running_loop()
        busy = loop.run_in_executor(lane, gate.wait, 10)  # the worker is busy while the lines queue up
        done = [loop.create_future() for _ in range(6)]
        for n, fut in enumerate(done[:5]):
            lane.put_line(b"line%d" % n, None, fut)
        call = loop.run_in_executor(lane, ran.append, "call")  # a call between lines ends a group
        lane.put_line(b"line5", None, done[5])
        gate.set()
        await busy
        await call
        return list(await asyncio.gather(*done))

    got = asyncio.run(main())
    lane.shutdown()
    assert got == [b"LINE%d" % n for n in range(6)]
    assert groups == [[b"line0", b"line1", b"line2", b"line3"], [b"line4"], [b"line5"]]  # max_group 4
    assert ran == ["group of 4", "group of 1", "call", "group of 1"]


# ------------------------------------------------------------------------------------------ the SQLite adapter
def test_the_store_writes_changed_device_rows_only_and_reloads_the_same_log(tmp_path):
    """Device-log rows are written one by one when they change (a commit per group must stay cheap): adds,
    removals from the middle (every later row moves up), re-adds, keys, statuses and link statistics all reload
    exactly as saved."""
    import random

    from chf.core.device_log import Status, record_link
    from chf.runtime.sqlite_store import SqliteStore

    rnd = random.Random(18)
    path = tmp_path / "hub.sqlite"
    store = SqliteStore(path)
    st = store.load(RTDS.extended_pan_id, 12)
    euis = [bytes([0xD0, n]) + bytes(6) for n in range(20)]
    t0 = datetime(2022, 1, 1, tzinfo=timezone.utc)

    def view(s: HubState) -> list[tuple]:
        return [(e.eui, e.device_type, e.install_code, e.tc_link_key, e.status, e.last_communication,
                 vars(e.stats)) for e in s.device_log.entries()]

    for step in range(300):
        op = rnd.random()
        eui = rnd.choice(euis)
        if op < 0.4:
            st.device_log.add(eui, rnd.choice((1, 2)), bytes([step % 256]) * 16)
        elif op < 0.7:
            st.device_log.remove(eui)
        elif (e := st.device_log.get(eui)) is not None:
            st.device_log.set_tc_link_key(eui, bytes([step % 256]) * 16)
            e.status |= Status.REPORTING
            e.last_communication = t0.replace(second=step % 60)
            record_link(e, rnd.randint(0, 255), -rnd.randint(0, 90))
        store.save(st)
        again = SqliteStore(path)
        assert view(again.load(RTDS.extended_pan_id, 12)) == view(st), step
        again.close()


def test_handoffs_keep_order_and_wake_the_loop_once_per_hold():
    from chf.runtime.handoff import handoff, holding

    ran: list[int] = []
    wakes = [0]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        real = loop.call_soon_threadsafe

        def counted(*args):
            wakes[0] += 1
            return real(*args)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        box = handoff(loop)
        assert handoff(loop) is box

        def worker() -> None:
            with holding():  # a group: five posts, one wake-up at the end
                for n in range(5):
                    box.post(ran.append, n)
                assert wakes[0] == 0
            box.post(ran.append, 5)  # outside a hold: a wake-up unless one is pending

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(main())
    assert ran == [0, 1, 2, 3, 4, 5]
    assert wakes[0] == 1  # the last post found the group's wake-up still pending
