"""CBKE over the Key Establishment cluster as two sans-I/O state machines: `Initiator` (client: the joining meter)
and `Responder` (server: the hub's trust centre), SE Annex C.3 with the crypto of C.4.

A machine is fed events — `receive(command, payload, now)` for a cluster command from the partner, `tick(now)`
when its `deadline` has passed — and returns actions: `Send` (a command payload for the partner), `Established`
(the new link key) or `Failed`. It does no I/O and keeps no clock: `now` is any monotonic time in seconds. It
does not filter APS duplicates or broadcasts (the caller does: Silicon Labs drops both, SL-KE).

Flow (SE Annex C.3, Figure C-3): Initiate Request (CERTU) → Initiate Response (CERTV) → Ephemeral Data Request
(QEU) → Response (QEV) → Confirm Key Request (MACU) → Response (MACV). The responder derives the keys when it
makes QEV and checks MACU before sending MACV; the initiator derives them on QEV and checks MACV.

Timeouts (SE Annex C.3.1.1): a side waits for the partner's next message for the generate time the partner
advertised in its Initiate command plus a transmission allowance of at least 2 s. Before the partner has
advertised anything (the initiator awaiting the Initiate Response) a fixed wait applies: `Timing.
initiate_response_timeout`, 10 s by default like Silicon Labs' KEY_ESTABLISHMENT_TIMEOUT_BASE_SECONDS (SL-KE).

After a failure (SE Annex C.3.1.2.3.4; Silicon Labs key-establishment.c and smart-energy-registration.c):
* the side that detects an error sends Terminate Key Establishment (status, a wait time, its suite bitmap), drops
  the exchange's temporary data and installs no key;
* the side that receives Terminate ends the exchange and sends nothing back. The responder installs its key when
  it sends MACV, before the initiator has checked it; a Terminate (BAD_KEY_CONFIRM) arriving after that reports
  `Failed` so the caller drops that key (*judgement*: Silicon Labs keeps it, but the partner holds no such key);
* the initiator may start again after the wait time the partner sent, except after UNKNOWN_ISSUER or
  BAD_KEY_CONFIRM, which are final for that partner (`Status.final`);
* a timeout ends the exchange without a Terminate (Silicon Labs maps TIMEOUT_OCCURRED to no message); the
  initiator may retry after its own back-off (`Timing.timeout_back_off`, 10 s as SL's INTERNAL_ERROR_BACK_OFF_TIME).
A Silicon Labs meter gives up registration after 3 failed attempts; counting attempts is the caller's business.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import ClassVar

from .certificate import SUITE1_OFFSETS, SUITE2_OFFSETS, Certificate, decode_certificate
from .cluster import MAC_OCTETS, MAX_TIME, Command, InitiateKeyEstablishment, Status, TerminateKeyEstablishment
from .curves import KeyPair, Point, RandomSource
from .ecmqv import shared_secret
from .ecqv import reconstruct_public_key
from .errors import CertificateError, InvalidPoint, KeyAgreementError, PayloadError
from .kdf import derive_keys
from .mac import mac_u, mac_v, macs_equal
from .suites import Suite

EUI64_OCTETS = 8


@dataclass(frozen=True)
class Timing:
    """The times a machine advertises and waits, in seconds (SE Annex C.3.1.1)."""

    ephemeral_data_generate_time: int = 10
    """Advertised in our Initiate command: how long we take to answer with ephemeral data (10 s, as the
    HenryGiraldo/gbcs CH emulator)."""
    confirm_key_generate_time: int = 10
    """Advertised: how long we take to answer with a confirm key message."""
    transmission_allowance: float = 2.0
    """Added to the partner's advertised times (C.3.1.1: at least 2 s)."""
    initiate_response_timeout: float = 10.0
    """Initiator's wait for the Initiate Response, before the partner has advertised anything."""
    terminate_wait_time: int = 30
    """The wait time we put in our Terminate (30 s as Silicon Labs' BACK_OFF_TIME_REPORTED_TO_PARTNER)."""
    timeout_back_off: float = 10.0
    """Initiator's pause before retrying after a timeout (Silicon Labs' INTERNAL_ERROR_BACK_OFF_TIME)."""

    def __post_init__(self) -> None:
        for name in ("ephemeral_data_generate_time", "confirm_key_generate_time", "terminate_wait_time"):
            if not 0 <= getattr(self, name) <= MAX_TIME:
                raise ValueError(f"{name} is 0–{MAX_TIME} seconds")


@dataclass(frozen=True)
class Credentials:
    """One suite's identity: our certificate and static key pair, and the CAs we trust by issuer ID."""

    certificate: Certificate
    key: KeyPair
    trusted_cas: Mapping[bytes, Point]
    """Issuer ID (8 octets, as in certificates) → that CA's public key Q_CA."""

    @property
    def suite(self) -> Suite:
        """The suite of the certificate."""
        return self.certificate.suite


class State(Enum):
    """Where an exchange stands; `AWAIT_*` states have a deadline."""

    IDLE = auto()
    AWAIT_INITIATE_RESPONSE = auto()  # initiator
    AWAIT_EPHEMERAL_REQUEST = auto()  # responder
    AWAIT_EPHEMERAL_RESPONSE = auto()  # initiator
    AWAIT_CONFIRM_REQUEST = auto()  # responder
    AWAIT_CONFIRM_RESPONSE = auto()  # initiator
    ESTABLISHED = auto()
    FAILED = auto()


class Cause(Enum):
    """Why an exchange failed."""

    SENT_TERMINATE = auto()  # we found the error and terminated
    RECEIVED_TERMINATE = auto()  # the partner terminated
    TIMEOUT = auto()  # the partner did not answer in time


@dataclass(frozen=True)
class Send:
    """Send this cluster command to the partner (request if we are the initiator, response otherwise)."""

    command: Command
    payload: bytes


@dataclass(frozen=True, repr=False)
class Established:
    """Key establishment succeeded: `link_key` (KeyData) becomes the APS link key with `partner`."""

    partner: bytes
    link_key: bytes

    def __repr__(self) -> str:
        return f"Established(partner={self.partner.hex()}, link_key=<secret>)"


@dataclass(frozen=True)
class Failed:
    """Key establishment failed; no key is installed. `retry_at` is when an initiator may start again (None:
    not with this partner, or we are the responder)."""

    cause: Cause
    status: Status | None
    """The Terminate status sent or received (None after a timeout or for a status outside Table C-6)."""
    wait_time: int
    """The wait time sent or received in the Terminate (0 after a timeout)."""
    retry_at: float | None


Action = Send | Established | Failed


class _Abort(Exception):
    """Internal: terminate the exchange with this status."""

    def __init__(self, status: Status) -> None:
        super().__init__(status.name)
        self.status = status


def _suite_from_field(value: int, supported: int) -> Suite:
    """The single suite a request or response names (SE Annex C.3.1.2.3.1.2): more than one bit set is
    BAD_MESSAGE; a bit we do not support (or none) is UNSUPPORTED_SUITE."""
    if value.bit_count() > 1:
        raise _Abort(Status.BAD_MESSAGE)
    if value not in (Suite.SUITE_1, Suite.SUITE_2) or not value & supported:
        raise _Abort(Status.UNSUPPORTED_SUITE)
    return Suite(value)


@dataclass(kw_only=True)
class _Exchange:
    """What both machines share: the partner, our timing, the random source and the exchange's temporary data."""

    partner: bytes
    """The partner's EUI-64, big-endian as in certificates; its certificate's subject must match."""
    timing: Timing = field(default_factory=Timing)
    rng: RandomSource = secrets.token_bytes
    has_resources: Callable[[], bool] = lambda: True
    """Asked when a partner's certificate arrives; False terminates with NO_RESOURCES (Silicon Labs asks its
    application the same)."""

    state: State = field(default=State.IDLE, init=False)
    deadline: float | None = field(default=None, init=False)
    """When `tick` should next be called; None when nothing is awaited."""
    suite: Suite | None = field(default=None, init=False)
    partner_certificate: Certificate | None = field(default=None, init=False)
    _partner_key: Point | None = field(default=None, init=False, repr=False)
    _partner_times: tuple[int, int] = field(default=(0, 0), init=False, repr=False)
    _ephemeral: KeyPair | None = field(default=None, init=False, repr=False)
    _qeu: bytes = field(default=b"", init=False, repr=False)
    _qev: bytes = field(default=b"", init=False, repr=False)
    _key_data: bytes = field(default=b"", init=False, repr=False)
    _expected_mac: bytes = field(default=b"", init=False, repr=False)
    _reply_mac: bytes = field(default=b"", init=False, repr=False)

    INITIATOR: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if len(self.partner) != EUI64_OCTETS:
            raise ValueError(f"the partner is an {EUI64_OCTETS}-octet EUI-64")

    # --- events -------------------------------------------------------------------------------------------------

    def receive(self, command: int, payload: bytes, now: float) -> list[Action]:
        """A command from the partner (the caller routes by ZCL direction). Terminate ends the exchange; a command
        out of sequence is BAD_MESSAGE (SE Table C-6); after the end, commands are ignored."""
        # Terminate also revokes a responder's just-established key (see the module doc).
        if command == Command.TERMINATE_KEY_ESTABLISHMENT:
            revoke = self.state is State.ESTABLISHED and not self.INITIATOR
            return self._on_terminate(payload, now) if self._in_progress() or revoke else []
        try:
            cmd = Command(command)
        except ValueError:
            cmd = None
        handler = None if cmd is None else self._handler(self.state, cmd)
        if handler is None:
            if self._in_progress() or (self.state is State.IDLE and not self.INITIATOR):
                return self._terminate(Status.BAD_MESSAGE, now)
            return []
        try:
            return handler(payload, now)
        except _Abort as abort:
            return self._terminate(abort.status, now)

    def tick(self, now: float) -> list[Action]:
        """Time has passed: past the deadline the exchange fails, and no Terminate is sent (see module doc)."""
        if self.deadline is None or now < self.deadline:
            return []
        self._clear(State.FAILED)
        retry_at = now + self.timing.timeout_back_off if self.INITIATOR else None
        return [Failed(Cause.TIMEOUT, None, 0, retry_at)]

    # --- shared steps -------------------------------------------------------------------------------------------

    def _in_progress(self) -> bool:
        return self.state not in (State.IDLE, State.ESTABLISHED, State.FAILED)

    def _handler(self, state: State, command: Command) -> Callable[[bytes, float], list[Action]] | None:
        """The transition for a received command in a state (the subclass's table), None if there is none."""
        raise NotImplementedError

    def _supported(self) -> int:
        raise NotImplementedError

    def _credentials(self) -> Credentials:
        raise NotImplementedError

    def _await(self, state: State, now: float, seconds: float) -> None:
        self.state = state
        self.deadline = now + seconds

    def _partner_wait(self, generate_time: int) -> float:
        return generate_time + self.timing.transmission_allowance

    def _clear(self, state: State) -> None:
        """End the exchange: drop everything secret or partner-specific (no key is kept on failure)."""
        self.state = state
        self.deadline = None
        self._ephemeral = None
        self._key_data = self._expected_mac = self._reply_mac = b""

    def _terminate(self, status: Status, now: float) -> list[Action]:
        wait = self.timing.terminate_wait_time
        self._clear(State.FAILED)
        retry_at = None if not self.INITIATOR or status.final else now + wait
        payload = TerminateKeyEstablishment(status, wait, self._supported()).encode()
        return [Send(Command.TERMINATE_KEY_ESTABLISHMENT, payload), Failed(Cause.SENT_TERMINATE, status, wait,
                                                                          retry_at)]

    def _on_terminate(self, payload: bytes, now: float) -> list[Action]:
        try:
            terminate = TerminateKeyEstablishment.decode(payload)
        except PayloadError:  # malformed: the exchange ends all the same; never answer a Terminate
            terminate = TerminateKeyEstablishment(0, 0, 0)
        status = terminate.known_status
        self._clear(State.FAILED)
        final = status is not None and status.final
        retry_at = now + terminate.wait_time if self.INITIATOR and not final else None
        return [Failed(Cause.RECEIVED_TERMINATE, status, terminate.wait_time, retry_at)]

    def _accept_certificate(self, message: InitiateKeyEstablishment, suite: Suite) -> None:
        """The partner's Initiate command (SE Annex C.3.1.2.3.1.2, Silicon Labs' order of checks): length,
        issuer known, subject = partner, field values, our resources, then the key rebuilt from it (ECQV)."""
        if len(message.identity) != suite.certificate_octets:
            raise _Abort(Status.BAD_MESSAGE)
        offsets = SUITE1_OFFSETS if suite is Suite.SUITE_1 else SUITE2_OFFSETS
        issuer = message.identity[offsets["issuer"]:offsets["issuer"] + EUI64_OCTETS]
        ca = self._credentials().trusted_cas.get(issuer)
        if ca is None:
            raise _Abort(Status.UNKNOWN_ISSUER)
        if message.identity[offsets["subject"]:offsets["subject"] + EUI64_OCTETS] != self.partner:
            raise _Abort(Status.INVALID_CERTIFICATE)
        try:
            certificate = decode_certificate(suite, message.identity)
        except CertificateError as exc:
            raise _Abort(Status.INVALID_CERTIFICATE) from exc
        if not self.has_resources():
            raise _Abort(Status.NO_RESOURCES)
        try:
            self._partner_key = reconstruct_public_key(certificate, ca)
        except CertificateError as exc:
            raise _Abort(Status.INVALID_CERTIFICATE) from exc
        self.partner_certificate = certificate
        self._partner_times = (message.ephemeral_data_generate_time, message.confirm_key_generate_time)

    def _initiate_payload(self, suite: Suite) -> bytes:
        return InitiateKeyEstablishment(suite, self.timing.ephemeral_data_generate_time,
                                        self.timing.confirm_key_generate_time,
                                        self._credentials().certificate.encode()).encode()

    def _partner_ephemeral(self, payload: bytes) -> Point:
        """QEU / QEV: the suite's point length and a valid point of order n, else BAD_MESSAGE."""
        assert self.suite is not None
        if len(payload) != self.suite.point_octets:
            raise _Abort(Status.BAD_MESSAGE)
        try:
            return self.suite.curve.decode_public_key(payload)
        except InvalidPoint as exc:
            raise _Abort(Status.BAD_MESSAGE) from exc

    def _agree(self, partner_ephemeral: Point) -> None:
        """ECMQV, KDF and both MACs (SE Annex C.4.2.4): keep KeyData, the MAC we expect and the one we send."""
        assert self.suite is not None and self._ephemeral is not None and self._partner_key is not None
        assert self.partner_certificate is not None
        credentials = self._credentials()
        try:
            z = shared_secret(self.suite.curve, credentials.key.private, self._ephemeral, self._partner_key,
                              partner_ephemeral)
        except KeyAgreementError as exc:
            raise _Abort(Status.BAD_MESSAGE) from exc
        keys = derive_keys(z)
        own, other = credentials.certificate.subject, self.partner_certificate.subject
        initiator, responder = (own, other) if self.INITIATOR else (other, own)
        macu = mac_u(keys.mac_key, initiator, responder, self._qeu, self._qev)
        macv = mac_v(keys.mac_key, initiator, responder, self._qeu, self._qev)
        self._expected_mac, self._reply_mac = (macv, macu) if self.INITIATOR else (macu, macv)
        self._key_data = keys.key_data


@dataclass(kw_only=True)
class Initiator(_Exchange):
    """The CBKE client: a device (meter) establishing a link key with the trust centre. One suite, chosen by the
    caller (e.g. with `suites.negotiate` on the partner's KeyEstablishmentSuite attribute)."""

    credentials: Credentials

    INITIATOR: ClassVar[bool] = True

    def _credentials(self) -> Credentials:
        return self.credentials

    def _handler(self, state: State, command: Command) -> Callable[[bytes, float], list[Action]] | None:
        handler = Initiator.TABLE.get((state, command))
        return None if handler is None else lambda payload, now: handler(self, payload, now)

    def _supported(self) -> int:
        return int(self._credentials().suite)

    def start(self, now: float) -> list[Action]:
        """Send the Initiate Key Establishment Request (a retry starts afresh; the caller honours `retry_at`)."""
        if self._in_progress():
            raise RuntimeError(f"key establishment already in progress ({self.state.name})")
        self._clear(State.IDLE)
        self.suite = self._credentials().suite
        self.partner_certificate = self._partner_key = None
        self._await(State.AWAIT_INITIATE_RESPONSE, now, self.timing.initiate_response_timeout)
        return [Send(Command.INITIATE_KEY_ESTABLISHMENT, self._initiate_payload(self.suite))]

    def _on_initiate_response(self, payload: bytes, now: float) -> list[Action]:
        """CERTV: check it, rebuild V's key, make our ephemeral pair, send QEU (SE Annex C.3.1.3.3.1)."""
        try:
            message = InitiateKeyEstablishment.decode(payload)
        except PayloadError as exc:
            raise _Abort(Status.BAD_MESSAGE) from exc
        suite = _suite_from_field(message.suite, Suite.SUITE_1 | Suite.SUITE_2)
        if suite is not self.suite:
            raise _Abort(Status.BAD_MESSAGE)
        self._accept_certificate(message, suite)
        self._ephemeral = suite.curve.key_pair(self.rng)
        self._qeu = suite.curve.compress(self._ephemeral.public)
        self._await(State.AWAIT_EPHEMERAL_RESPONSE, now, self._partner_wait(self._partner_times[0]))
        return [Send(Command.EPHEMERAL_DATA, self._qeu)]

    def _on_ephemeral_response(self, payload: bytes, now: float) -> list[Action]:
        """QEV: derive the keys, send MACU (SE Annex C.3.1.3.3.2, C.4.2.4)."""
        qev = self._partner_ephemeral(payload)
        self._qev = payload
        self._agree(qev)
        self._await(State.AWAIT_CONFIRM_RESPONSE, now, self._partner_wait(self._partner_times[1]))
        return [Send(Command.CONFIRM_KEY, self._reply_mac)]

    def _on_confirm_response(self, payload: bytes, now: float) -> list[Action]:
        """MACV: equal to ours, the key is established; otherwise BAD_KEY_CONFIRM (SE Annex C.3.1.3.3.3)."""
        if len(payload) != MAC_OCTETS:
            raise _Abort(Status.BAD_MESSAGE)
        if not macs_equal(payload, self._expected_mac):
            raise _Abort(Status.BAD_KEY_CONFIRM)
        key = self._key_data
        self._clear(State.ESTABLISHED)
        return [Established(self.partner, key)]

    TABLE: ClassVar[Mapping[tuple[State, Command], Callable[[Initiator, bytes, float], list[Action]]]] = {
        (State.AWAIT_INITIATE_RESPONSE, Command.INITIATE_KEY_ESTABLISHMENT): _on_initiate_response,
        (State.AWAIT_EPHEMERAL_RESPONSE, Command.EPHEMERAL_DATA): _on_ephemeral_response,
        (State.AWAIT_CONFIRM_RESPONSE, Command.CONFIRM_KEY): _on_confirm_response,
    }
    """The initiator's transitions: (state, received command) → handler. Anything else in progress is
    BAD_MESSAGE; Terminate is handled in every state."""


@dataclass(kw_only=True)
class Responder(_Exchange):
    """The CBKE server: the trust centre answering one partner. It may hold credentials for both suites; the
    initiator's request picks one. A new Initiate Request after the end of an exchange starts another."""

    credentials: Mapping[Suite, Credentials]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.credentials:
            raise ValueError("a responder needs credentials for at least one suite")
        for suite, credentials in self.credentials.items():
            if credentials.suite is not suite:
                raise ValueError(f"credentials for {suite.name} hold a {credentials.suite.name} certificate")

    def _credentials(self) -> Credentials:
        assert self.suite is not None
        return self.credentials[self.suite]

    def _handler(self, state: State, command: Command) -> Callable[[bytes, float], list[Action]] | None:
        handler = Responder.TABLE.get((state, command))
        return None if handler is None else lambda payload, now: handler(self, payload, now)

    def _supported(self) -> int:
        bits = 0
        for suite in self.credentials:
            bits |= suite
        return bits

    def _on_initiate_request(self, payload: bytes, now: float) -> list[Action]:
        """CERTU: choose the suite, check the certificate, rebuild U's key, answer with CERTV (SE Annex
        C.3.1.2.3.1)."""
        self._clear(State.IDLE)
        self.suite = None
        self.partner_certificate = self._partner_key = None
        try:
            message = InitiateKeyEstablishment.decode(payload)
        except PayloadError as exc:
            raise _Abort(Status.BAD_MESSAGE) from exc
        self.suite = _suite_from_field(message.suite, self._supported())
        self._accept_certificate(message, self.suite)
        self._await(State.AWAIT_EPHEMERAL_REQUEST, now, self._partner_wait(self._partner_times[0]))
        return [Send(Command.INITIATE_KEY_ESTABLISHMENT, self._initiate_payload(self.suite))]

    def _on_ephemeral_request(self, payload: bytes, now: float) -> list[Action]:
        """QEU: make our ephemeral pair, derive the keys, answer with QEV (SE Annex C.3.1.2.3.2)."""
        assert self.suite is not None
        qeu = self._partner_ephemeral(payload)
        self._ephemeral = self.suite.curve.key_pair(self.rng)
        self._qeu = payload
        self._qev = self.suite.curve.compress(self._ephemeral.public)
        self._agree(qeu)
        self._await(State.AWAIT_CONFIRM_REQUEST, now, self._partner_wait(self._partner_times[1]))
        return [Send(Command.EPHEMERAL_DATA, self._qev)]

    def _on_confirm_request(self, payload: bytes, now: float) -> list[Action]:
        """MACU: equal to ours, answer with MACV and the key is established; otherwise BAD_KEY_CONFIRM (SE Annex
        C.3.1.2.3.3)."""
        if len(payload) != MAC_OCTETS:
            raise _Abort(Status.BAD_MESSAGE)
        if not macs_equal(payload, self._expected_mac):
            raise _Abort(Status.BAD_KEY_CONFIRM)
        key, reply = self._key_data, self._reply_mac
        self._clear(State.ESTABLISHED)
        return [Send(Command.CONFIRM_KEY, reply), Established(self.partner, key)]

    TABLE: ClassVar[Mapping[tuple[State, Command], Callable[[Responder, bytes, float], list[Action]]]] = {
        (State.IDLE, Command.INITIATE_KEY_ESTABLISHMENT): _on_initiate_request,
        (State.ESTABLISHED, Command.INITIATE_KEY_ESTABLISHMENT): _on_initiate_request,
        (State.FAILED, Command.INITIATE_KEY_ESTABLISHMENT): _on_initiate_request,
        (State.AWAIT_EPHEMERAL_REQUEST, Command.EPHEMERAL_DATA): _on_ephemeral_request,
        (State.AWAIT_CONFIRM_REQUEST, Command.CONFIRM_KEY): _on_confirm_request,
    }
    """The responder's transitions: (state, received command) → handler. Anything else is BAD_MESSAGE while an
    exchange is in progress or none has started; Terminate is handled in every state."""
