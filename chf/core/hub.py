"""The CHF: `Hub.handle(frame) -> Outcome` (response, alerts, radio commands), sans-I/O, on an injected clock.

Pipeline (docs/han.md): decode → route (CHF or a device in the log) → authenticate (originator
known, MAC, signature when critical) → authorise (use-case access roles) → anti-replay → format check →
execute → commit → respond. A frame failing any check changes nothing but the CHF security log, and gets
no response: a device cannot answer what it cannot authenticate. Security-log codes are the GBCS alert codes
of those failures (names from wireshark `packet-gbcs.c` gbcs_gbz_alert_code_names; the mapping of failure to
code is ours [I], there being no public GBCS §5 text).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from chf.core.clock import Clock, add_seconds, dlms_date_time, zigbee_seconds
from chf.core.device_log import DEFAULT_CAPACITY, DeviceType, Status, record_link
from chf.core.faults import FaultTable
from chf.core.han import (FrameReceived, HanCommand, HanEvent, Joined, JoinMethod, JoinRefused, Left, MalformedFrame,
                          Permit, Remove, Tunnel, Undelivered)
from chf.core.identity import HubIdentity
from chf.core.install_code import link_key
from chf.core.join_window import KEY_ESTABLISHMENT_GRACE, JoinPhase
from chf.core.objects import CS14_ALERT_CODE, Context, backup, execute, log_entry, register_device, set_enable_joining
from chf.core.quiet_log import QuietLog
from chf.core.rejection import Rejection
from chf.core.replies import alert_frame, response_frame
from chf.core.security_log import record_rejection
from chf.core.store import Store, StoreError
from chf.core.usecases import USE_CASES
from gbcs import codes, dlms
from gbcs.authentication import Verdict, check_mac, check_signature
from gbcs.axdr import Data
from gbcs.errors import DecodeError
from gbcs.frame import Frame, decode_frame
from gbcs.gbt import Reassembler, is_gbt
from gbcs.grouping_header import Cra, OtherInformation, SignatureField
from gbcs.keys import ACB_EUI, KeyStore

log = logging.getLogger("chf.core.hub")
FLUSH_INTERVAL = 1.0  # seconds: rejections reach the store with the next commit, at the latest this much later

CS14_MESSAGE_CODE = 0x0018
ECS100_MESSAGE_CODE = 0x0120  # "Command not supported by Device" alert, RTDS NA_ECS100
ECS100_ALERT_CODE = 0x8F85


@dataclass
class HubConfig:
    identity: HubIdentity
    acb: bytes = ACB_EUI
    # Remote parties the hub trusts, with their roles (the ACB is the only sender of CHF use cases).
    remote_parties: dict[bytes, codes.Role] = field(default_factory=dict)
    device_log_capacity: int = DEFAULT_CAPACITY
    disconnect_code: int | None = None  # the provisional Disconnect message code (gbcs.codes.lookup; None: 0xF013)

    def role_of(self, eui: bytes) -> codes.Role | None:
        if eui == self.acb:
            return codes.Role.ACCESS_CONTROL_BROKER
        return self.remote_parties.get(eui)  # e.g. more ACB-role senders for load tests (`chf run --trust`)


@dataclass
class Outcome:
    """What one input made the hub want done: `frames` to send back (the response first, then alerts), the
    radio commands to carry out after the commit (`han`), device frames to pass up the WAN (`forward`: (frame,
    origin token of the command it answers, or None for alerts)), and why a frame was refused (`rejection`).
    The hub has committed its state before returning it (h11-style: the core says, the runtime does); inside
    `handle_group` the commit is the group's, made before `handle_group` returns the outcomes. A refusal
    and "nothing to send" differ: only the first has a `rejection`."""

    frames: list[bytes] = field(default_factory=list)
    han: list[HanCommand] = field(default_factory=list)
    forward: list[tuple[bytes, object]] = field(default_factory=list)
    rejection: tuple[Rejection, str] | None = None
    error: StoreError | None = None  # why nothing could be acknowledged (the state is back to the last commit)

    @property
    def rejected(self) -> bool:
        return self.rejection is not None


PENDING_ROUTED = 256  # routed commands awaiting a device's response (oldest forgotten first)


class Hub:
    def __init__(self, config: HubConfig, keys: KeyStore, store: Store, clock: Clock,
                 faults: FaultTable | None = None) -> None:
        self.config = config
        self.keys = keys
        self.store = store
        self.clock = clock
        self.faults = faults if faults is not None else FaultTable()
        self.gbt = Reassembler()
        self.state = store.load(config.identity.extended_pan_id, config.device_log_capacity)
        self.last_rejection: tuple[Rejection, str] | None = None
        self.rejections = 0  # frames refused since start (each is also in the security log, coalesced)
        self._unsaved_since: float | None = None  # monotonic time of the oldest rejection not yet committed
        self._rejection_saved_at = float("-inf")  # when a rejection last caused a commit
        self._quiet = QuietLog(log)
        # (device, remote party, counter) of a command routed to the HAN -> the origin token given with it
        self.pending: OrderedDict[tuple[bytes, bytes, int], object] = OrderedDict()
        # group commit (`handle_group`): None outside a group; inside, the reads answered so far (index, sender,
        # counter) and whether anything asked for a commit
        self._group: list[tuple[int, bytes, int]] | None = None
        self._group_index = 0
        self._group_dirty = False

    @property
    def eui(self) -> bytes:
        return self.config.identity.eui

    # ------------------------------------------------------------------------------------------ WAN side
    def handle(self, data: bytes, origin: object = None) -> Outcome:
        """Process one frame from the WAN. `origin` (e.g. the connection it came on) is handed back with a
        device's response when the frame was routed to the HAN."""
        try:
            return self._handle(data, origin)
        except StoreError as e:  # e.g. disk full: the command is not acknowledged, the hub carries on
            self._quiet.log("store", f"command not acknowledged: {e}", logging.ERROR)
            self.reload()
            return Outcome(error=e)

    def handle_group(self, frames: Sequence[tuple[bytes, object]]) -> list[Outcome]:
        """Group commit: process frames that arrived together (each `(data, origin)` as `handle` takes it), each
        seeing the state the ones before it left, then commit once for all of them; the outcomes exist only after
        that commit, so a runtime that releases them then never answers what a crash could lose. When the commit
        fails, the state goes back to the last commit (as before the group) and each frame is answered as `handle`
        answers it on a failed commit: a change gets `error` and nothing else, a read keeps its response and its
        counter in memory (the next successful commit writes it) — unless a change of the group came before it,
        whose effect it may show: then it gets `error` too. docs/robustness.md, "Group commit"."""
        outs: list[Outcome] = []
        reads: list[tuple[int, bytes, int]] = []
        first_change = len(frames)  # the first frame that may have changed the state (not a read, not refused)
        self._group, self._group_dirty = reads, False
        try:
            for i, (data, origin) in enumerate(frames):
                self._group_index = i
                out = self.handle(data, origin)
                if out.error is not None:  # the store failed inside the group: the group fails as a whole
                    raise out.error
                outs.append(out)
                if first_change == len(frames) and out.rejection is None and not (reads and reads[-1][0] == i):
                    first_change = i
            self._group = None
            if self._group_dirty:
                self._commit()
        except StoreError as e:
            self._group = None
            self._quiet.log("store", f"group of {len(frames)} command(s) not acknowledged: {e}", logging.ERROR)
            self.reload()
            # a read answered from committed state keeps its answer; one that came after a change of this group
            # may show what the failed commit lost, so it is not answered either (the party sends it again)
            kept = {i for i, _, _ in reads if i < len(outs) and i < first_change}
            for i, originator, counter in reads:
                if i in kept and counter > self.state.counters.get(originator, -1):
                    self.state.counters[originator] = counter
                    self._unsaved_since = self.clock.monotonic()  # the next tick's flush writes it
            return [outs[i] if i in kept else Outcome(error=e) for i in range(len(frames))]
        finally:
            self._group = None
        return outs

    def _handle(self, data: bytes, origin: object) -> Outcome:
        if is_gbt(data):
            try:
                whole = self.gbt.add(data)
            except DecodeError as e:
                return self._reject(Rejection.MALFORMED, f"GBT block: {e}")
            finally:
                if self.gbt.evicted:
                    ev = self.gbt.evicted[-1]
                    self._quiet.log("gbt", f"GBT reassembly buffer full: dropped {self.gbt.evictions} incomplete "
                                    f"transfer(s) so far, latest {ev.key[0].hex().upper()}/{ev.key[1]:#x} "
                                    f"({ev.size} bytes, {ev.why})")
                    self.gbt.evicted.clear()
            if whole is not None and is_gbt(whole):
                return self._reject(Rejection.MALFORMED, "a GBT transfer carrying another GBT block")
            return self._handle(whole, origin) if whole is not None else Outcome()
        try:
            frame = decode_frame(data)
        except DecodeError as e:
            return self._reject(Rejection.MALFORMED, str(e))
        h = frame.header
        if h.recipient != self.eui:
            return self._route_to_han(frame, data, origin)
        who = (h.originator, h.counter)
        if h.cra is not Cra.COMMAND:
            return self._reject(Rejection.MALFORMED, f"a {h.cra.label} sent to the CHF", *who)
        role = self.config.role_of(h.originator)
        if role is None:
            return self._reject(Rejection.UNKNOWN_SOURCE, f"unknown originator {h.originator.hex().upper()}", *who)
        if frame.mac is None or check_mac(self.keys, frame, data) is not Verdict.VALID:
            return self._reject(Rejection.AUTHENTICATION, "MAC missing or invalid", *who)
        entry = codes.lookup(h.message_code, self.config.disconnect_code)
        must_sign = entry is not None and entry.criticality is codes.Criticality.CRITICAL
        if must_sign or h.signature_field is SignatureField.PRESENT:
            if check_signature(self.keys, h, data) is not Verdict.VALID:
                return self._reject(Rejection.AUTHENTICATION, "critical command without a valid signature", *who)
        if entry is not None and entry.allows_role(role) is False:
            return self._reject(Rejection.NO_AUTHORITY, f"{role.value} may not send 0x{h.message_code:04X}", *who)
        last = self.state.counters.get(h.originator)
        if last is not None and h.counter <= last:
            return self._reject(Rejection.REPLAY, f"counter {h.counter:#x} not above {last:#x}", *who)
        use_case = USE_CASES.get(h.message_code)
        if use_case is None:
            return self._not_supported(frame)
        try:
            request = dlms.decode(h.payload, h.offsets["payload"])
        except DecodeError as e:
            return self._reject(Rejection.MALFORMED, str(e), *who)
        if not isinstance(request, dlms.AccessRequest) or tuple(
                (int(s.kind), s.class_id, s.obis, s.member) for s in request.specs) != use_case.shape \
                or len(request.data) != len(request.specs):
            return self._reject(Rejection.MALFORMED, f"payload does not match {use_case.name}", *who)
        # Authenticated, authorised, fresh and well-formed: act on it.
        self.state.counters[h.originator] = h.counter
        now = self.clock.now()
        ctx = Context(self.state, self.config.identity, now, self.faults)
        results, out = [], []
        for spec, arg in zip(request.specs, request.data, strict=True):  # lengths checked above
            r, d = execute(ctx, spec, arg)
            results.append(r)
            out.append(d)
        payload = dlms.AccessResponse.answer(request, results, out).encode()
        frames = [response_frame(self.keys, h, payload)]
        if ctx.log_changed:
            frames.append(self._cs14(ctx))
        read_only = not ctx.log_changed and all(s.kind in (dlms.SpecKind.GET, dlms.SpecKind.GET_WITH_SELECTION)
                                                  for s in request.specs)
        if read_only and self._group is not None:
            self._group.append((self._group_index, h.originator, h.counter))
        try:
            self._commit()
        except StoreError as e:
            if not read_only:
                raise
            # A read changes nothing but the counter: answer it, keep the counter in memory, and let the next
            # successful commit write it (the store only forgets what it has written once a commit succeeds).
            self._quiet.log("store", f"read answered without saving its counter: {e}", logging.ERROR)
        return Outcome(frames, han=ctx.han)

    def _route_to_han(self, frame: Frame, data: bytes, origin: object) -> Outcome:
        """A frame for a device in the device log goes over the HAN tunnel; the CHF cannot check its MAC (it is
        keyed to the device), so the device authenticates it. Its response comes back through `han_event`."""
        h = frame.header
        if h.recipient not in self.state.device_log:
            return self._reject(Rejection.MALFORMED,
                                f"recipient {h.recipient.hex().upper()} is neither the CHF nor in its log")
        if h.cra is Cra.COMMAND:
            self.pending[(h.recipient, h.originator, h.counter)] = origin
            while len(self.pending) > PENDING_ROUTED:
                self.pending.popitem(last=False)
        return Outcome(han=[Tunnel(h.recipient, data)])

    def _not_supported(self, frame: Frame) -> Outcome:
        """ECS100: alert 0x8F85 with the message code and originator counter of the command (RTDS NA_ECS100);
        a critical alert, so it is sent only when the hub holds a DS key to sign it."""
        h = frame.header
        self.state.counters[h.originator] = h.counter
        now = self.clock.now()
        info = h.message_code.to_bytes(2, "big") + h.counter.to_bytes(8, "big")
        self.state.log_event(log_entry(now, ECS100_ALERT_CODE, info))
        oi = h.other_information
        other = OtherInformation(ECS100_MESSAGE_CODE, oi.supplementary_remote_party_id,
                                 oi.supplementary_remote_party_counter) if oi.supplementary_remote_party_id \
            else OtherInformation(ECS100_MESSAGE_CODE)
        self.state.alert_counter += 1
        body = dlms.DataNotification.alert(dlms.invoke_id_for(self.state.alert_counter), ECS100_ALERT_CODE,
                                           dlms_date_time(now), Data.octet_string(info))
        alert = alert_frame(self.keys, self.eui, h.originator, self.state.alert_counter, ECS100_MESSAGE_CODE,
                            body.encode(), other, critical=True)
        if alert is None:
            self.state.alert_counter -= 1
        self._commit()
        return Outcome([alert] if alert else [])

    def _reject(self, why: Rejection, detail: str, originator: bytes | None = None,
                counter: int | None = None) -> Outcome:
        """Refuse a frame: a security-log entry (sender, counter, repeats) kept in memory until the next commit
        or `flush`, so a rejection costs no disk write (chf/core/security_log.py)."""
        self.last_rejection = (why, detail)
        self.rejections += 1
        if log.isEnabledFor(logging.INFO):
            log.info("rejected (%s): %s", why.name, detail)
        record_rejection(self.state.security_log, zigbee_seconds(self.clock.now()), int(why),
                         originator, counter)
        t = self.clock.monotonic()
        if t - self._rejection_saved_at >= FLUSH_INTERVAL:  # at most one commit a second for rejections
            self._rejection_saved_at = t
            self.flush(force=True)
        elif self._unsaved_since is None:
            self._unsaved_since = t
        return Outcome(rejection=(why, detail))

    def flush(self, force: bool = False) -> Outcome:
        """Commit security-log entries of rejections not yet saved (the clock tick calls this once a second)."""
        if self._unsaved_since is not None or force:
            try:
                self._commit()
            except StoreError as e:
                self._quiet.log("store", f"security log not saved: {e}", logging.ERROR)
        return Outcome()

    # ------------------------------------------------------------------------------------------ HAN side
    def han_event(self, event: HanEvent) -> Outcome:
        """One event from the radio (a join, a leave, a refused join, a device's frame)."""
        try:
            if isinstance(event, Joined):
                return self._joined(event)
            if isinstance(event, FrameReceived):
                return self._device_frame(event)
            if isinstance(event, JoinRefused):
                return self._reject(Rejection.UNKNOWN_SOURCE if event.eui not in self.state.device_log
                                    else Rejection.AUTHENTICATION,
                                    f"join by {event.eui.hex().upper()} refused: {event.reason}")
            if isinstance(event, MalformedFrame):
                return self._reject(Rejection.MALFORMED, f"tunnel data from {event.eui.hex().upper()}: {event.reason}",
                                    event.eui)
            if isinstance(event, Undelivered):
                return self._undelivered(event)
            if isinstance(event, Left):
                entry = self.state.device_log.get(event.eui)
                if entry is not None:
                    entry.status &= ~Status.REPORTING
                    self._commit()
            return Outcome()
        except StoreError as e:
            self._quiet.log("store", f"HAN event {type(event).__name__} not committed: {e}", logging.ERROR)
            self.reload()
            return Outcome(error=e)

    def _undelivered(self, ev: Undelivered) -> Outcome:
        """A routed frame the HAN side could not take (its buffers are bounded: chf.runtime.hub_runtime,
        zigbee.zigpy_han) or deliver. GBCS's answer for an ESME is alert 0x8F84 "Failure to Deliver Remote Party
        Message to ESME" (gbcs-use-cases.html, "See section 10"); for a sleepy GSME the nearest is 0x819D "GSME
        Command Not Retrieved". GBCS says nothing of a full HAN buffer as such, and our sources hold no layout we
        can check for the 0x8F84 alert, so the CHF drops the frame and records the code in its security log
        (coalesced like other unauthenticated noise: the CHF never authenticates a routed frame) [I]."""
        entry = self.state.device_log.get(ev.eui)
        why = Rejection.NOT_RETRIEVED if entry is not None and entry.device_type == DeviceType.GSME \
            else Rejection.NOT_DELIVERED
        originator = counter = None
        try:
            h = decode_frame(ev.frame).header if not is_gbt(ev.frame) else None
        except DecodeError:
            h = None
        if h is not None:
            originator, counter = h.originator, h.counter
            self.pending.pop((ev.eui, h.originator, h.counter), None)
        return self._reject(why, f"frame for {ev.eui.hex().upper()} not forwarded: {ev.reason}", originator, counter)

    def device_joined(self, eui: bytes, tc_link_key: bytes, historic: bool = False) -> Outcome:
        """Shorthand for a `Joined` event (`CHF:JOIN` with `--radio none`, tests)."""
        return self.han_event(Joined(eui, tc_link_key, JoinMethod.LINK_KEY if historic else JoinMethod.INSTALL_CODE))

    def _joined(self, ev: Joined) -> Outcome:
        """A device completed a join or re-join. Allowed only for a whitelisted device: an install-code join
        inside its window's install-code phase (key establishment gave a new TC link key), its historic TC link
        key inside the first half (mapping table CCS01), or a TC re-join with the key the log holds (after a
        power cut, or after a CCS03 TC swap-out: status 0x08), then, after a swap-out, the key CBKE with this
        hub gave it (`JoinMethod.CBKE`). A new or re-used key is recorded, CS14 carries its hash."""
        now, eui = self.clock.now(), ev.eui
        entry = self.state.device_log.get(eui)
        w = self.state.join_windows.get(eui)
        if entry is None:
            return self._refuse_join(eui, Rejection.UNKNOWN_SOURCE, "not in the device log")
        # the window governs the trust centre's admission; key establishment may complete after it closed
        phase = w.phase(ev.admitted_at or now) if w else JoinPhase.CLOSED
        key = ev.tc_link_key
        if ev.method is JoinMethod.LINK_KEY:
            held = entry.tc_link_key is not None and key == entry.tc_link_key  # a re-sent CCS01's permit
            if not held and (phase is not JoinPhase.HISTORIC_KEY or w is None or key != w.historic_key):
                return self._refuse_join(eui, Rejection.AUTHENTICATION, "historic TC link key outside its window")
        elif ev.method is JoinMethod.INSTALL_CODE:
            if phase is not JoinPhase.INSTALL_CODE and not (entry.tc_link_key is not None and w is None
                                                              and key == entry.tc_link_key):
                return self._refuse_join(eui, Rejection.AUTHENTICATION, "install-code join outside the join window")
        elif ev.method is JoinMethod.CBKE:  # a joined device re-keyed (it re-authenticated a swapped-in TC)
            if entry.tc_link_key is None:
                return self._refuse_join(eui, Rejection.AUTHENTICATION, "CBKE by a device that holds no TC link key")
        else:  # TC re-join with the key it holds
            if entry.tc_link_key is None or (key is not None and key != entry.tc_link_key):
                return self._refuse_join(eui, Rejection.AUTHENTICATION, "TC re-join with a key the log does not hold")
            if entry.install_code is None:  # only a CCS03 restore makes an entry without an install code
                entry.status |= Status.AUTHORISED_AFTER_SWAP_OUT
        changed = key is not None and self.state.device_log.set_tc_link_key(eui, key)
        entry.last_communication = now
        entry.status |= Status.AUTHORISED | Status.REPORTING
        record_link(entry, ev.lqi, ev.rssi)
        if ev.method not in (JoinMethod.TC_REJOIN, JoinMethod.CBKE):
            self.state.join_windows.pop(eui, None)
        frames = [self._cs14(Context(self.state, self.config.identity, now, self.faults))] if changed else []
        self._commit()
        return Outcome(frames)

    def _refuse_join(self, eui: bytes, why: Rejection, detail: str) -> Outcome:
        """A join the hub does not accept: logged, and the device is told to leave."""
        out = self._reject(why, f"join by {eui.hex().upper()}: {detail}")
        if eui not in self.state.device_log:
            out.han.append(Remove(eui))
        return out

    def _device_frame(self, ev: FrameReceived) -> Outcome:
        """A device's GBCS frame goes up the WAN: a response to the connection its command came on, an alert to
        every client. Only devices in the log are heard (the log is the HAN whitelist)."""
        entry = self.state.device_log.get(ev.eui)
        if entry is None:
            return self._reject(Rejection.UNKNOWN_SOURCE, f"frame from {ev.eui.hex().upper()}, not in the log")
        try:
            h = decode_frame(ev.frame).header if not is_gbt(ev.frame) else None
        except DecodeError as e:
            return self._reject(Rejection.MALFORMED, f"frame from {ev.eui.hex().upper()}: {e}")
        if h is not None and h.originator != ev.eui:
            return self._reject(Rejection.UNKNOWN_SOURCE, f"frame from {ev.eui.hex().upper()} claims to come from "
                                                          f"{h.originator.hex().upper()}")
        origin = None
        if h is not None and h.cra is Cra.RESPONSE:
            origin = self.pending.pop((ev.eui, h.recipient, h.counter), None)
        entry.last_communication = self.clock.now()
        entry.status |= Status.REPORTING
        record_link(entry, ev.lqi, ev.rssi)
        self._commit()
        return Outcome(forward=[(ev.frame, origin)])

    def install(self, eui: bytes, device_type: int, install_code: bytes, join_timeout: int = 90) -> Outcome:
        """Whitelist a device and open its join window without a WAN command, by the same rules as CCS01
        (register_device, join_timeout, enable joining): how a bench or the RTDS rig puts devices in place as
        an installer would. Touches no remote party's counter, raises no alert."""
        ctx = Context(self.state, self.config.identity, self.clock.now(), self.faults)
        result, _ = register_device(ctx, Data.structure([
            Data.octet_string(eui), Data.enum(1), Data.octet_string(install_code), Data.enum(device_type)]))
        if result != 0:
            self.reload()
            return Outcome(rejection=(Rejection.MALFORMED, f"install of {eui.hex().upper()} refused ({result})"))
        self.state.join_timeout = join_timeout
        set_enable_joining(ctx, Data.boolean(0xFF))
        self._commit()
        return Outcome(han=ctx.han)

    def install_joined(self, devices: list[tuple[bytes, int, bytes, bytes]]) -> Outcome:
        """Put devices in place as already joined, each `(eui, device_type, install_code, tc_link_key)`: whitelisted
        by the same rules as CCS01 (`register_device`), and recorded as a completed join would leave them — the TC
        link key (CS14 and CCS07 carry its hash), status authorised and reporting, no join window. A device the
        log already holds with a TC link key keeps that key (it powered up holding it: a restarted bench); the
        caller reads which key each holds from the log. No WAN command, no alert, no radio command (the caller
        restores the radio's side); one commit for all. A device CCS01 would refuse refuses the whole call, which
        then changes nothing. How a bench restores the meters installed before it started (docs/bench.md)."""
        try:
            return self._install_joined(devices)
        except StoreError as e:
            self._quiet.log("store", f"installed devices not committed: {e}", logging.ERROR)
            self.reload()
            return Outcome(error=e)

    def _install_joined(self, devices: list[tuple[bytes, int, bytes, bytes]]) -> Outcome:
        now = self.clock.now()
        ctx = Context(self.state, self.config.identity, now, self.faults)
        for eui, device_type, install_code, key in devices:
            result, _ = register_device(ctx, Data.structure([
                Data.octet_string(eui), Data.enum(1), Data.octet_string(install_code), Data.enum(device_type)]))
            if result != 0 or len(key) != 16:
                self.reload()
                return Outcome(rejection=(Rejection.MALFORMED, f"install of {eui.hex().upper()} refused ({result})"))
            entry = self.state.device_log.get(eui)
            assert entry is not None
            if entry.tc_link_key is None:
                self.state.device_log.set_tc_link_key(eui, bytes(key))
                entry.last_communication = now
            entry.status |= Status.AUTHORISED | Status.REPORTING
            self.state.join_windows.pop(eui, None)
        self._commit()
        return Outcome()

    def forget(self, eui: bytes) -> Outcome:
        """Drop a device-log entry without a CCS02 (no historic record, no alert, no radio command): bench and rig
        setup only, when an emulated device starts afresh beside a hub state that still lists it."""
        self.state.device_log.remove(eui)
        self.state.join_windows.pop(eui, None)
        self._commit()
        return Outcome()

    def needs_tick(self) -> bool:
        """Whether `tick` has anything to do (a window's half or end passed, joining's end passed, unsaved
        rejections): a runtime with many hubs skips idle ones without a thread hop. A racy read is harmless."""
        st = self.state
        if self._unsaved_since is not None:
            return True
        now = self.clock.now()
        if st.joining_enabled_until is not None and now >= st.joining_enabled_until:
            return True
        grace = KEY_ESTABLISHMENT_GRACE.total_seconds()
        return any(now >= add_seconds(w.closes_at, grace) or (w.historic_key is not None and now >= w.half_way)
                   for w in list(st.join_windows.values()))

    def tick(self) -> Outcome:
        """Advance windows on the clock: the historic half hands over to the install code, windows close."""
        if self._unsaved_since is not None:
            self.flush()
        now = self.clock.now()
        changed = False
        han: list[HanCommand] = []
        for eui, w in list(self.state.join_windows.items()):
            if w.phase(now) is JoinPhase.CLOSED and now >= add_seconds(w.closes_at, KEY_ESTABLISHMENT_GRACE.total_seconds()):
                del self.state.join_windows[eui]  # kept a while: a device admitted in it may still be in CBKE
                changed = True
            elif w.historic_key is not None and now >= w.half_way:
                han.append(Permit(eui, link_key(w.install_code), (w.closes_at - now).total_seconds()))
                w.historic_key = None  # the historic phase is over for good
                changed = True
        until = self.state.joining_enabled_until
        if until is not None and now >= until:
            self.state.joining_enabled_until = None
            changed = True
        if changed:
            self._commit()
        return Outcome(han=han)

    # ------------------------------------------------------------------------------------------ internals
    def _cs14(self, ctx: Context) -> bytes:
        """CS14 Device Log Changed alert 0x8F12 to the ACB, with the hub's next alert counter (mapping table CS14)."""
        self.state.alert_counter += 1
        n = self.state.alert_counter
        body = dlms.DataNotification.alert(dlms.invoke_id_for(n), CS14_ALERT_CODE, dlms_date_time(ctx.now),
                                           backup(ctx))
        self.state.log_security(log_entry(ctx.now, CS14_ALERT_CODE))
        frame = alert_frame(self.keys, self.eui, self.config.acb, n, CS14_MESSAGE_CODE, body.encode())
        assert frame is not None
        return frame

    def _commit(self) -> None:
        if self._group is not None:  # inside `handle_group`: one commit at its end
            self._group_dirty = True
            return
        self.store.save(self.state)
        self._unsaved_since = None

    def reload(self) -> None:
        """Forget uncommitted changes: back to the state last committed (after a failed commit, or when the runtime
        caught an unexpected failure). If the store cannot be read either, the hub keeps what it has in memory."""
        try:
            self.state = self.store.load(self.config.identity.extended_pan_id, self.config.device_log_capacity)
        except StoreError as e:
            self._quiet.log("store", f"could not reload state: {e}", logging.ERROR)

    def snapshot(self) -> dict:
        """The device logs and counters as JSON-able data (control channel, `chf` tools, tests)."""
        st = self.state
        return {
            "hub": self.eui.hex().upper(),
            "extended_pan_id": st.extended_pan_id.hex().upper(),
            "device_log": [{"eui": e.eui.hex().upper(), "device_type": e.device_type,
                            "install_code": e.install_code.hex().upper() if e.install_code else None,
                            "hashed_tc_link_key": e.hashed_tc_link_key.hex().upper(),
                            "status": int(e.status)} for e in st.device_log.entries()],
            "historic_device_log": [{"eui": e.eui.hex().upper()} for e in st.historic_log.entries()],
            "alert_counter": st.alert_counter,
            "counters": {k.hex().upper(): v for k, v in st.counters.items()},
            "join_windows": sorted(k.hex().upper() for k in st.join_windows),
        }

