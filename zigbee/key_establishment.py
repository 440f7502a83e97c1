"""The Key Establishment cluster (0x0800) on the HAN: zigpy's stub extended, and CBKE driven over the air.

* `GbcsKeyEstablishment` extends zigpy 2.4's empty `KeyEstablishment` stub (`zigpy/zcl/clusters/smartenergy.py`)
  the way `zigbee.tunnel.GbcsTunneling` extends `Tunneling`: the KeyEstablishmentSuite attribute (SE Annex
  C.3.1.1, Table C-4) and the four commands each way (C.3.1.2.3, C.3.1.3.3), kept out of zigpy's registry.
  `encode`/`decode` put the sans-I/O machines' payloads (`zigbee.cbke.cluster`) in ZCL frames: cluster-specific,
  requests client → server, responses and the responder's Terminate server → client, default response
  disabled (the GB CH emulator sends 0x09, HG c/zigbee.c), the responder answering with the request's TSN
  (Silicon Labs key-establishment.c keeps the partner's sequence number for its response). The frames travel
  with NWK security only, never APS security (SE Annex C.5.2/C.6.2 frames carry APS frame control 0x40).
* `Session` drives one `zigbee.cbke.exchange` machine on the event loop: every `receive` — the ECQV
  reconstruction, the ephemeral key pair, ECMQV — runs on the CBKE worker threads (`crypto_executor`), never on
  the loop that drives the radio; its deadline is watched on the emulated clock (the spec's timeouts are device
  time). Calls into one machine are serialised.
* `KeyEstablishmentServer` is the trust centre's side (the hub, host-side, on any radio): one `Responder` per
  partner, the KeyEstablishmentSuite attribute, and a record per device of how its key was established.
  `EmulatedNode` (zigbee/node.py) is the initiator.

What each side does after a failure is the rule of zigbee/cbke/exchange.py (Terminate, wait time, final
statuses) plus, at HAN level, Silicon Labs' registration (`smart-energy-registration.c`): the meter retries
after the wait time the partner sent, at most 3 attempts (`…_REGISTRATION_ERROR_LIMIT` 3), none after a final
status, then gives up and leaves the network (`af-common.c`: "reboot to forget the untrusted network and its
settings"). docs/cbke.md "On the HAN" has the whole rule with its sources.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final, Protocol

import zigpy.types as t
from zigpy.zcl import foundation
from zigpy.zcl.clusters.smartenergy import KeyEstablishment
from zigpy.zcl.foundation import ZCLAttributeDef, ZCLCommandDef

from zigbee.cbke.cluster import CLUSTER_ID, SUITE_ATTRIBUTE_ID, Command, Status, TerminateKeyEstablishment
from zigbee.cbke.exchange import Action, Cause, Credentials, Established, Failed, Initiator, Responder, Send, Timing
from zigbee.cbke.suites import Suite

log = logging.getLogger(__name__)

KEY_ESTABLISHMENT_CLUSTER_ID = CLUSTER_ID
ENUM16_TYPE_ID = 0x31  # ZCL data type of the KeyEstablishmentSuite attribute (enum16, SE Annex C.3.1.1)
REGISTRATION_ERROR_LIMIT = 3
"""Key establishment attempts before a meter gives up (Silicon Labs EMBER_AF_PLUGIN_SMART_ENERGY_REGISTRATION_
ERROR_LIMIT)."""
SUITE_READ_TIMEOUT_S = 5.0
"""How long a meter waits for the KeyEstablishmentSuite attribute before it offers its own best suite (emulated
seconds; zsmartsystems forces the suite when the ZigBee test harness answers 0)."""
CPU_MARGIN_REAL_S = 2.0
"""Real seconds a bench allows a side for its pure-Python ECC (and a first certificate issuance) on top of the
spec's transmission allowance (`bench_timing`)."""


def bench_timing(time_scale: float) -> Timing:
    """The machines' timing on a bench whose emulated clock runs `time_scale` times faster than real time. SE
    Annex C.3.1.1 asks for a transmission allowance of *at least* 2 s; a side's ECC takes ~50 ms of real CPU, which
    at time_scale 120 is 6 emulated seconds, so the allowance (and the initiator's first wait) grows by
    `CPU_MARGIN_REAL_S` real seconds' worth of emulated time. The advertised generate times (10 s and 10 s) stay
    as on the air; a frozen clock (0) keeps the spec's figures."""
    margin = CPU_MARGIN_REAL_S * max(0.0, time_scale)
    base = Timing()
    return Timing(transmission_allowance=base.transmission_allowance + margin,
                  initiate_response_timeout=base.initiate_response_timeout + margin)


# ---------------------------------------------------------------------------------------------- the zigpy cluster
class KeyEstablishmentSuites(t.bitmap16):
    """KeyEstablishmentSuite values (SE Table C-4): an enum16 used as a bitmap, one bit per crypto suite."""

    Suite_1 = 0x0001  # sect163k1, 48-octet certificates
    Suite_2 = 0x0002  # sect283k1, 74-octet certificates


class KeStatus(t.enum8):
    """Terminate Key Establishment status (SE Table C-6), as zigpy types it."""

    UNKNOWN_ISSUER = 0x01
    BAD_KEY_CONFIRM = 0x02
    BAD_MESSAGE = 0x03
    NO_RESOURCES = 0x04
    UNSUPPORTED_SUITE = 0x05
    INVALID_CERTIFICATE = 0x06


class GbcsKeyEstablishment(KeyEstablishment):
    """Key Establishment with its attribute and commands (SE Annex C.3). Field names follow the specification;
    a certificate, an ephemeral key and a MAC are octet strings whose length the suite fixes (t.Bytes: the rest
    of the payload)."""

    _skip_registry = True  # like GbcsTunneling: zigpy's global registry keeps its stub

    class AttributeDefs(foundation.BaseAttributeDefs):
        key_establishment_suite: Final = ZCLAttributeDef(id=SUITE_ATTRIBUTE_ID, type=KeyEstablishmentSuites,
                                                         access="r", mandatory=True)

    class ServerCommandDefs(foundation.BaseCommandDefs):
        """Received by the server (the trust centre): the initiator's requests."""

        initiate_key_establishment_request: Final = ZCLCommandDef(id=0x00, schema={
            "key_establishment_suite": t.uint16_t, "ephemeral_data_generate_time": t.uint8_t,
            "confirm_key_generate_time": t.uint8_t, "identity": t.Bytes})
        ephemeral_data_request: Final = ZCLCommandDef(id=0x01, schema={"ephemeral_data": t.Bytes})
        confirm_key_data_request: Final = ZCLCommandDef(id=0x02, schema={"secure_message_authentication_code": t.Bytes})
        terminate_key_establishment: Final = ZCLCommandDef(id=0x03, schema={
            "status_code": KeStatus, "wait_time": t.uint8_t, "key_establishment_suite": t.uint16_t})

    class ClientCommandDefs(foundation.BaseCommandDefs):
        """Received by the client (the meter): the responder's responses."""

        initiate_key_establishment_response: Final = ZCLCommandDef(id=0x00, schema={
            "requested_key_establishment_suite": t.uint16_t, "ephemeral_data_generate_time": t.uint8_t,
            "confirm_key_generate_time": t.uint8_t, "identity": t.Bytes})
        ephemeral_data_response: Final = ZCLCommandDef(id=0x01, schema={"ephemeral_data": t.Bytes})
        confirm_key_data_response: Final = ZCLCommandDef(id=0x02, schema={"secure_message_authentication_code": t.Bytes})
        terminate_key_establishment: Final = ZCLCommandDef(id=0x03, schema={
            "status_code": KeStatus, "wait_time": t.uint8_t, "key_establishment_suite": t.uint16_t})


class KeFrameError(ValueError):
    """A Key Establishment cluster frame that does not decode."""


@dataclass(frozen=True)
class KeFrame:
    """One decoded frame of cluster 0x0800: a cluster command (`command`, raw `payload`) or a general command
    (`general` set: Read Attributes and its response)."""

    tsn: int
    to_server: bool
    command: int
    payload: bytes
    general: bool = False

    def fields(self) -> dict[str, Any]:
        """The command's fields, parsed with the zigpy schema (`KeFrameError` if they do not parse)."""
        defs = GbcsKeyEstablishment.ServerCommandDefs if self.to_server else GbcsKeyEstablishment.ClientCommandDefs
        for cmd in defs:
            if cmd.id == self.command:
                try:
                    value, rest = cmd.schema.deserialize(self.payload)
                except (ValueError, KeyError) as e:
                    raise KeFrameError(f"{cmd.name}: {e}") from None
                if rest:
                    raise KeFrameError(f"{cmd.name}: {len(rest)} trailing bytes")
                return value.as_dict()
        raise KeFrameError(f"command 0x{self.command:02X} not in the Key Establishment cluster")


def encode(command: Command | int, payload: bytes, *, to_server: bool, tsn: int) -> bytes:
    """ZCL header ‖ payload of a Key Establishment command (`payload` as the machines make it)."""
    direction = foundation.Direction.Client_to_Server if to_server else foundation.Direction.Server_to_Client
    hdr = foundation.ZCLHeader.cluster(tsn, int(command), direction=direction)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=True)
    return hdr.serialize() + payload


def decode(data: bytes) -> KeFrame:
    try:
        hdr, payload = foundation.ZCLHeader.deserialize(data)
    except (ValueError, KeyError) as e:
        raise KeFrameError(f"ZCL header: {e}") from None
    to_server = hdr.direction == foundation.Direction.Client_to_Server
    return KeFrame(int(hdr.tsn), to_server, int(hdr.command_id), bytes(payload), not hdr.frame_control.is_cluster)


def read_suite_request(tsn: int) -> bytes:
    """Read Attributes of KeyEstablishmentSuite (client → server), as Silicon Labs' initiator sends it first."""
    hdr = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes,
                                       direction=foundation.Direction.Client_to_Server)
    return hdr.serialize() + t.List[t.uint16_t]([t.uint16_t(SUITE_ATTRIBUTE_ID)]).serialize()


def read_suite_response(tsn: int, suites: int) -> bytes:
    """The server's Read Attributes Response: KeyEstablishmentSuite as an enum16."""
    hdr = foundation.ZCLHeader.general(tsn, foundation.GeneralCommand.Read_Attributes_rsp,
                                       direction=foundation.Direction.Server_to_Client)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=True)
    record = foundation.ReadAttributeRecord(
        attrid=t.uint16_t(SUITE_ATTRIBUTE_ID), status=foundation.Status.SUCCESS,
        value=foundation.TypeValue(type=ENUM16_TYPE_ID, value=t.enum16(suites)))
    return hdr.serialize() + t.List[foundation.ReadAttributeRecord]([record]).serialize()


def parse_read_suite_response(frame: KeFrame) -> int | None:
    """The KeyEstablishmentSuite value of a Read Attributes Response, None if it holds none."""
    if not frame.general or frame.command != foundation.GeneralCommand.Read_Attributes_rsp:
        return None
    try:
        records, _ = t.List[foundation.ReadAttributeRecord].deserialize(frame.payload)
    except (ValueError, KeyError):
        return None
    for r in records:
        if int(r.attrid) == SUITE_ATTRIBUTE_ID and r.status == foundation.Status.SUCCESS and r.value is not None:
            return int(r.value.value)
    return None


def is_read_suite_request(frame: KeFrame) -> bool:
    if not (frame.general and frame.to_server and frame.command == foundation.GeneralCommand.Read_Attributes):
        return False
    try:
        ids, _ = t.List[t.uint16_t].deserialize(frame.payload)
    except (ValueError, KeyError):
        return False
    return SUITE_ATTRIBUTE_ID in [int(i) for i in ids]


# ---------------------------------------------------------------------------------------------- identities
class CbkeIdentity(Protocol):
    """What a device holds for CBKE (`zigbee.credentials.DeviceIdentity`, or fixed credentials in tests)."""

    eui: bytes
    suites: tuple[Suite, ...]

    @property
    def suite_bits(self) -> int: ...

    def credentials(self) -> dict[Suite, Credentials]:
        """May be slow (issues certificates): called on a CBKE worker thread."""


@dataclass(frozen=True)
class FixedIdentity:
    """Credentials already in hand (tests, the Annex examples)."""

    eui: bytes
    creds: Mapping[Suite, Credentials]

    @property
    def suites(self) -> tuple[Suite, ...]:
        return tuple(sorted(self.creds, reverse=True))

    @property
    def suite_bits(self) -> int:
        bits = 0
        for s in self.creds:
            bits |= int(s)
        return bits

    def credentials(self) -> dict[Suite, Credentials]:
        return dict(self.creds)


# ---------------------------------------------------------------------------------------------- driving a machine
_EXECUTOR: ThreadPoolExecutor | None = None
CRYPTO_THREADS = 2
_busy = 0  # CBKE computations submitted and not finished, in this process (read and written on event loops)
MAX_BUSY_EXTENSION_S = 120.0
"""Longest a deadline is held back, in real seconds, while this process's CBKE work is still queued."""


def crypto_busy() -> bool:
    """Whether any CBKE computation of this process is queued or running."""
    return _busy > 0


async def run_crypto(fn: Callable[[float], list[Action]], now: float) -> list[Action]:
    """`fn(now)` on the CBKE worker threads, counted in `crypto_busy`."""
    global _busy
    _busy += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(crypto_executor(), fn, now)
    finally:
        _busy -= 1


def crypto_executor() -> ThreadPoolExecutor:
    """The worker threads CBKE's pure-Python ECC runs on (shared by every hub and meter of a process). Threads,
    not processes: the GIL still interleaves them with the loop (every 5 ms by default), so a join costs other
    traffic a few milliseconds of latency, never the ~50 ms a side spends in ECC."""
    global _EXECUTOR
    if _EXECUTOR is None:
        _EXECUTOR = ThreadPoolExecutor(CRYPTO_THREADS, thread_name_prefix="cbke")
    return _EXECUTOR


class Clock(Protocol):
    def seconds(self) -> float: ...

    async def sleep(self, emulated_seconds: float) -> None: ...


class Session:
    """One machine (`Initiator` or `Responder`) on the loop: `start`/`feed` → its actions go to `send` (each
    `Send`) and `done` (`Established`, `Failed`). The machine is built by `factory` on a CBKE worker thread the
    first time it is needed (loading — or issuing — the certificates is slow too); every `receive` runs there;
    the deadline is watched on `clock`."""

    def __init__(self, factory: Callable[[], Initiator | Responder], clock: Clock, send: Callable[[Send], None],
                 done: Callable[[Established | Failed], None]) -> None:
        self._factory = factory
        self.machine: Initiator | Responder | None = None
        self.clock = clock
        self._send = send
        self._done = done
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.closed = False

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _machine(self) -> Initiator | Responder:
        if self.machine is None:
            self.machine = self._factory()
        return self.machine

    def start(self) -> None:
        """The initiator's Initiate Key Establishment Request (a retry starts the same machine afresh)."""

        def run(now: float) -> list[Action]:
            m = self._machine()
            assert isinstance(m, Initiator)
            return m.start(now)

        self._spawn(self._call(run))

    def feed(self, command: int, payload: bytes) -> None:
        """A command from the partner, processed in arrival order. Confirm Key and Terminate need no ECC (a MAC
        comparison) and run on the loop, so the initiator holds its key as soon as MACV arrives."""
        cheap = self.machine is not None and command in (Command.CONFIRM_KEY, Command.TERMINATE_KEY_ESTABLISHMENT)
        self._spawn(self._call(lambda now: self._machine().receive(command, payload, now), offload=not cheap))

    async def _call(self, fn: Callable[[float], list[Action]], *, offload: bool = True) -> None:
        async with self._lock:
            if self.closed:
                return
            now = self.clock.seconds()
            try:
                if offload:
                    actions = await run_crypto(fn, now)
                else:
                    actions = fn(now)
            except Exception:
                log.exception("key establishment machine failed")
                return
            if not self.closed:
                self._act(actions)

    def _act(self, actions: list[Action]) -> None:
        for a in actions:
            try:
                if isinstance(a, Send):
                    self._send(a)
                else:
                    self._done(a)
            except Exception:
                log.exception("key establishment action %r", a)
        self._arm()

    def _arm(self) -> None:
        current = asyncio.current_task()
        if self._timer is not None and self._timer is not current:
            self._timer.cancel()
        self._timer = None
        deadline = None if self.machine is None else self.machine.deadline
        if deadline is not None and not self.closed:
            self._timer = asyncio.get_running_loop().create_task(self._expire(deadline))

    async def _expire(self, deadline: float) -> None:
        await self.clock.sleep(max(0.0, deadline - self.clock.seconds()))
        # Emulation choice: on a bench the partner computes on the same CPU as we do, so while any CBKE work of
        # this process is queued or running the deadline waits: an exchange stuck behind fifty others is slow,
        # not silent (a partner that is really gone is timed out as soon as the work drains).
        held = 0.0
        while crypto_busy() and held < MAX_BUSY_EXTENSION_S:
            await asyncio.sleep(0.05)
            held += 0.05
        async with self._lock:
            if self.closed or self.machine is None or self.machine.deadline != deadline:
                return
            self._act(self.machine.tick(max(self.clock.seconds(), deadline)))

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()


# ---------------------------------------------------------------------------------------------- records
class KeySource(Enum):
    """How a device's TC link key came to be (`CHF:HAN`)."""

    CBKE = "cbke"                  # certificate-based key establishment (SE Annex C)
    DERIVED = "derived"            # the emulation's derived key (`key_establishment = "derived"`): not SE
    HISTORIC_KEY = "historic-key"  # a CCS01 window's first half: the TC link key it held before
    TC_REJOIN = "tc-rejoin"        # it trust-centre re-joined with the key it held (power cut, swap-out hash)
    INSTALLED = "installed"        # installed before the bench started: it came up holding its key
    PRECONFIGURED = "install-code"  # joined with its install-code key, key establishment not (yet) done


@dataclass
class KeRecord:
    """Per device: where its key came from and the last CBKE outcome."""

    source: KeySource | None = None
    suite: int | None = None
    outcome: str | None = None    # "established" | "failed" | "in progress"
    status: str | None = None     # Terminate status name, "TIMEOUT", or None
    cause: str | None = None      # sent-terminate | received-terminate | timeout
    at: datetime | None = None
    attempts: int = 0

    def view(self) -> dict[str, Any]:
        last = None
        if self.outcome is not None:
            last = {"outcome": self.outcome, "status": self.status, "cause": self.cause, "suite": self.suite,
                    "at": self.at.isoformat() if self.at else None, "attempts": self.attempts}
        return {"key_source": None if self.source is None else self.source.value, "last_cbke": last}


def failure_parts(f: Failed) -> tuple[str | None, str]:
    """(status name — "TIMEOUT" after a timeout, None for a status outside Table C-6 —, cause) of a failure."""
    status = f.status.name if f.status is not None else ("TIMEOUT" if f.cause is Cause.TIMEOUT else None)
    return status, f.cause.name.lower().replace("_", "-")


def failure_text(f: Failed) -> str:
    status, cause = failure_parts(f)
    return f"{status or 'unknown status'} ({cause})"


# ---------------------------------------------------------------------------------------------- the trust centre
@dataclass
class KeyEstablishmentServer:
    """The trust centre's Key Establishment server for one hub (the `ZigpyHan` calls it; it never touches the
    radio): a `Responder` per partner, the KeyEstablishmentSuite attribute, and the per-device records.

    `send(eui, frame_bytes, dst_endpoint)` puts a frame on the air; `established(eui, key)` and `failed(eui,
    Failed)` report outcomes. `has_resources(eui)` answers NO_RESOURCES when False (default: always room; a
    Silicon Labs TC serves one partner at a time, which would make a bench's simultaneous installs back off)."""

    identity: CbkeIdentity
    clock: Any
    timing: Timing = field(default_factory=Timing)
    has_resources: Callable[[bytes], bool] = lambda eui: True
    knows: Callable[[bytes], bool] = lambda eui: True
    """Whether the partner has a key-table entry: the TC does CBKE only with a device it admitted (Silicon Labs
    `checkKeyTable` under SE full security: "Unknown EUI64 trying to perform CBKE" → BAD_MESSAGE)."""

    send: Callable[[bytes, bytes, int], None] = lambda eui, data, ep: None
    established: Callable[[bytes, bytes], None] = lambda eui, key: None
    failed: Callable[[bytes, Failed], None] = lambda eui, f: None
    records: dict[bytes, KeRecord] = field(default_factory=dict)
    _sessions: dict[bytes, Session] = field(default_factory=dict)
    _endpoints: dict[bytes, int] = field(default_factory=dict)
    _tsn: dict[bytes, int] = field(default_factory=dict)

    @property
    def suites(self) -> int:
        return self.identity.suite_bits

    def record(self, eui: bytes) -> KeRecord:
        return self.records.setdefault(eui, KeRecord())

    def receive(self, eui: bytes, data: bytes, src_endpoint: int) -> None:
        """A Key Establishment cluster frame from device `eui` (on the loop)."""
        try:
            frame = decode(data)
        except KeFrameError as e:
            log.warning("key establishment frame from %s: %s", eui.hex().upper(), e)
            return
        self._endpoints[eui] = src_endpoint
        if frame.general:
            if is_read_suite_request(frame):
                self.send(eui, read_suite_response(frame.tsn, self.suites), src_endpoint)
            return
        if not frame.to_server:
            return  # we are the server: responses are not ours
        self._tsn[eui] = frame.tsn
        session = self._sessions.get(eui)
        if frame.command == Command.INITIATE_KEY_ESTABLISHMENT:
            if not self.knows(eui):
                self._terminate(eui, Status.BAD_MESSAGE)
                return
            if session is None or session.closed:
                session = self._session(eui)
            rec = self.record(eui)
            rec.outcome, rec.status, rec.cause, rec.at = "in progress", None, None, self.clock.now()
            rec.attempts += 1
        elif session is None:
            self._terminate(eui, Status.BAD_MESSAGE)  # out of sequence: no exchange with this partner
            return
        session.feed(frame.command, frame.payload)

    def _session(self, eui: bytes) -> Session:
        identity, timing = self.identity, self.timing

        def factory() -> Responder:  # on a CBKE worker thread: the hub's certificates may be issued now
            return Responder(partner=eui, credentials=identity.credentials(), timing=timing,
                             has_resources=lambda: self.has_resources(eui))

        def send(a: Send) -> None:
            self.send(eui, encode(a.command, a.payload, to_server=False, tsn=self._tsn.get(eui, 0)),
                      self._endpoints.get(eui, 1))

        def done(a: Established | Failed) -> None:
            rec = self.record(eui)
            rec.at = self.clock.now()
            m = session.machine
            if m is not None and m.suite is not None:
                rec.suite = int(m.suite)
            if isinstance(a, Established):
                rec.source, rec.outcome, rec.status, rec.cause = KeySource.CBKE, "established", None, None
                self.established(eui, a.link_key)
            else:
                rec.outcome, rec.status, rec.cause = "failed", *failure_parts(a)
                self.failed(eui, a)

        session = Session(factory, self.clock, send, done)
        self._sessions[eui] = session
        return session

    def _terminate(self, eui: bytes, status: Status) -> None:
        payload = TerminateKeyEstablishment(status, self.timing.terminate_wait_time, self.suites).encode()
        self.send(eui, encode(Command.TERMINATE_KEY_ESTABLISHMENT, payload, to_server=False,
                              tsn=self._tsn.get(eui, 0)), self._endpoints.get(eui, 1))
        rec = self.record(eui)
        rec.outcome, rec.status, rec.cause, rec.at = "failed", status.name, "sent-terminate", self.clock.now()

    def forget(self, eui: bytes) -> None:
        """The device left or was removed: drop its exchange (its record stays, for `CHF:HAN`)."""
        s = self._sessions.pop(eui, None)
        if s is not None:
            s.close()

    def close(self) -> None:
        for s in self._sessions.values():
            s.close()
        self._sessions.clear()


# ---------------------------------------------------------------------------------------------- the meter
class Registration:
    """A meter's key establishment with its trust centre, as Silicon Labs' Smart Energy registration runs it
    (`smart-energy-registration.c`): read the trust centre's KeyEstablishmentSuite (`key-establishment.c`
    `CHECK_SUPPORTED_CURVES`), initiate with the best common suite, and on failure retry after the wait time the
    partner sent — never after a final status (UNKNOWN_ISSUER, BAD_KEY_CONFIRM), at most
    `REGISTRATION_ERROR_LIMIT` attempts — then give up (`gave_up`); the node then leaves the network.

    `send(frame)` puts a frame to the trust centre's Key Establishment endpoint on the air; `next_tsn()` numbers
    the meter's requests."""

    def __init__(self, identity: CbkeIdentity, clock: Any, *, send: Callable[[bytes], bool],
                 next_tsn: Callable[[], int], established: Callable[[bytes, int], None],
                 gave_up: Callable[[Failed | None], None], timing: Timing | None = None,
                 suite_read_timeout: float = SUITE_READ_TIMEOUT_S) -> None:
        self.identity = identity
        self.clock = clock
        self._send = send
        self._next_tsn = next_tsn
        self._established = established
        self._gave_up = gave_up
        self.timing = timing or Timing()
        self.suite_read_timeout = suite_read_timeout
        self.record = KeRecord()
        self.reason = ""
        self._task: asyncio.Task | None = None
        self._session: Session | None = None
        self._suite_reply: asyncio.Future[int | None] | None = None
        self._suite_tsn = -1

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def begin(self, partner: bytes, reason: str) -> None:
        """Establish a key with trust centre `partner` (its EUI-64, big-endian): after an install-code join, or to
        re-authenticate a swapped-in trust centre."""
        self.cancel()
        self.reason = reason
        self.record.attempts = 0
        self._task = asyncio.get_running_loop().create_task(self._run(partner), name=f"cbke-{partner.hex()}")

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._session is not None:
            self._session.close()
            self._session = None

    def receive(self, data: bytes) -> None:
        """A Key Establishment cluster frame from the trust centre."""
        try:
            frame = decode(data)
        except KeFrameError as e:
            log.warning("key establishment frame from the trust centre: %s", e)
            return
        if frame.general:
            if frame.tsn == self._suite_tsn and self._suite_reply is not None and not self._suite_reply.done():
                self._suite_reply.set_result(parse_read_suite_response(frame))
            return
        if frame.to_server or self._session is None:
            return
        self._session.feed(frame.command, frame.payload)

    async def _read_suites(self) -> int | None:
        self._suite_tsn = self._next_tsn()
        self._suite_reply = asyncio.get_running_loop().create_future()
        if not self._send(read_suite_request(self._suite_tsn)):
            return None
        sleep = asyncio.ensure_future(self.clock.sleep(self.suite_read_timeout))
        try:
            await asyncio.wait({sleep, self._suite_reply}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
        return self._suite_reply.result() if self._suite_reply.done() else None

    async def _run(self, partner: bytes) -> None:
        from zigbee.cbke.suites import negotiate

        offered = await self._read_suites()
        suite = negotiate(self.identity.suite_bits, offered) if offered else None
        if suite is None:  # no answer, or 0 as the ZigBee test harness answers: offer our best suite
            suite = self.identity.suites[0]
        self.record.suite = int(suite)
        identity, timing = self.identity, self.timing
        while True:
            loop = asyncio.get_running_loop()
            result: asyncio.Future[Established | Failed] = loop.create_future()

            def factory() -> Initiator:  # on a CBKE worker thread: the certificate may be issued now
                return Initiator(partner=partner, credentials=identity.credentials()[suite], timing=timing)

            def send(a: Send) -> None:
                self._send(encode(a.command, a.payload, to_server=True, tsn=self._next_tsn()))

            def done(a: Established | Failed, result: asyncio.Future[Established | Failed] = result) -> None:
                if not result.done():
                    result.set_result(a)

            self.record.attempts += 1
            self.record.outcome, self.record.status, self.record.cause = "in progress", None, None
            self.record.at = self.clock.now()
            self._session = Session(factory, self.clock, send, done)
            self._session.start()
            try:
                outcome = await result
            finally:  # stop() may have closed and dropped the session while we waited
                session, self._session = self._session, None
                if session is not None:
                    session.close()
            self.record.at = self.clock.now()
            if isinstance(outcome, Established):
                self.record.source, self.record.outcome = KeySource.CBKE, "established"
                self._established(outcome.link_key, int(suite))
                return
            self.record.outcome = "failed"
            self.record.status, self.record.cause = failure_parts(outcome)
            if outcome.retry_at is None or self.record.attempts >= REGISTRATION_ERROR_LIMIT:
                self._gave_up(outcome)
                return
            await self.clock.sleep(max(0.0, outcome.retry_at - self.clock.seconds()))


# ---------------------------------------------------------------------------------------------- sticks
async def import_link_key_on_stick(app: Any, ieee: t.EUI64, key: bytes) -> bool:
    """UNTESTED ON HARDWARE. Put the TC link key CBKE gave `ieee` into a stick's key table, so that its stack
    APS-secures that device's traffic with it (`chf run --radio … --cbke-stick-import`; docs/cbke.md "Sticks"):

    * EZSP (bellows): `addOrUpdateKeyTableEntry(address, linkKey=True, keyData)` (frame 0x0066, EZSP v4–v12),
      or from EZSP v13 `importLinkKey(index, address, key)` (0x010E) at the entry `findKeyTableEntry` names, or a
      free one;
    * Z-Stack (zigpy-znp): `ZDO_SET_LINK_KEY` (`ZDO.SetLinkKey`, 0x25 0x23: NWK, IEEE, LinkKeyData).

    Whether either stack then uses the key as the device's *trust-centre* link key (rather than an application
    link key) is not known from public sources; stock ZHA firmware also enforces ZHA trust-centre security
    (bellows `zha_security`). Returns False, logging why, when the key could not be imported."""
    try:
        ezsp = getattr(app, "_ezsp", None)
        if ezsp is not None:
            if hasattr(ezsp, "addOrUpdateKeyTableEntry"):
                (status,) = await ezsp.addOrUpdateKeyTableEntry(address=ieee, linkKey=True, keyData=t.KeyData(key))
            else:
                (index,) = await ezsp.findKeyTableEntry(address=ieee, linkKey=True)
                if int(index) == 0xFF:
                    (index,) = await ezsp.findKeyTableEntry(address=t.EUI64(bytes(8)), linkKey=True)
                (status,) = await ezsp.importLinkKey(index=index, address=ieee, key=t.KeyData(key))
            ok = int(status) == 0
        elif getattr(app, "_znp", None) is not None:
            import zigpy_znp.commands as c
            import zigpy_znp.types as zt

            dev = app.get_device(ieee=ieee)
            await app._znp.request(c.ZDO.SetLinkKey.Req(NWK=dev.nwk, IEEE=ieee, LinkKeyData=zt.KeyData(key)),
                                   RspStatus=zt.Status.SUCCESS)
            ok = True
        else:
            log.warning("no way to import a link key into %s", type(app).__name__)
            return False
    except Exception as e:  # a stack that refuses, an older firmware: the device stays on its install-code key
        log.warning("importing the CBKE key of %s into the stick failed: %s", ieee, e)
        return False
    if not ok:
        log.warning("the stick refused the CBKE key of %s (status %s)", ieee, status)
    return ok
