"""How an emulated HAN device authenticates a command before acting on it, and signs or MACs its response.

Checks, in order (a failed one changes nothing and gets no response): addressed to this device → a command →
known originator with a remote-party role → valid MAC (the ACB↔device key pair,
`gbcs.authentication.mac_parties`) → signature: required and by a supplier for critical-only use cases, verified whenever
present → the use case's access roles (gbcs/message_codes.json) → originator counter above the last accepted
from that originator (anti-replay). Responses follow the pairing RTDS shows on every command/response pair: a
signed command gets a response signed by the device (no MAC), an unsigned one a MAC'd response; both carry the
command's counter and other-information and go to the command's originator (e.g. RTDS
`8.7.2_CS03B/CS03B_8.7.2_ERROR_{COMMAND,RESPONSE}_GBCS.HEX`).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from chf.core.rejection import Rejection
from gbcs import authentication as auth
from gbcs import codes, crypto
from gbcs.authentication import Verdict
from gbcs.frame import Frame, MacHeader
from gbcs.grouping_header import Cra, GroupingHeader, SignatureField
from gbcs.keys import KeyStore, KeyUsage


class Refused(Exception):
    """A frame the device will not act on; `reason` is the code it records."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason.name}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Authenticator:
    """The checks above for device `eui`: its trusted remote parties and its anti-replay counters."""

    eui: bytes
    keys: KeyStore
    remote_parties: dict[bytes, codes.Role]
    counters: dict[bytes, int]
    disconnect_code: int | None = None  # the provisional Disconnect message code (critical; None: 0xF013)

    def check(self, frame: Frame, wire: bytes) -> codes.Role:
        """Raise `Refused` unless the command may be acted on; return the originator's role. Does not record
        the counter: call `accept` once the command has been carried out."""
        h = frame.header
        if h.recipient != self.eui:
            raise Refused(Rejection.NOT_FOR_ME, f"addressed to {h.recipient.hex().upper()}")
        if h.cra is not Cra.COMMAND:
            raise Refused(Rejection.MALFORMED, f"a {h.cra.label}, not a command")
        role = self.remote_parties.get(h.originator)
        if role is None:
            raise Refused(Rejection.UNKNOWN_SOURCE, f"unknown originator {h.originator.hex().upper()}")
        if frame.mac is None or auth.check_mac(self.keys, frame, wire) is not Verdict.VALID:
            raise Refused(Rejection.AUTHENTICATION, "MAC missing or invalid")
        entry = codes.lookup(h.message_code, self.disconnect_code)
        critical_only = entry is not None and entry.criticality is codes.Criticality.CRITICAL
        signed = h.signature_field is SignatureField.PRESENT
        if critical_only and not signed:
            raise Refused(Rejection.AUTHENTICATION, "critical command without a signature")
        if signed and auth.check_signature(self.keys, h, wire) is not Verdict.VALID:
            raise Refused(Rejection.AUTHENTICATION, "signature invalid or its key unknown")
        if critical_only and role is not codes.Role.SUPPLIER:
            raise Refused(Rejection.NO_AUTHORITY, f"a critical command signed by a {role.value}")
        if entry is not None and entry.allows_role(role) is False:
            raise Refused(Rejection.NO_AUTHORITY, f"{role.value} may not send 0x{h.message_code:04X}")
        last = self.counters.get(h.originator)
        if last is not None and h.counter <= last:
            raise Refused(Rejection.REPLAY, f"counter {h.counter:#x} not above {last:#x}")
        return role

    def accept(self, header: GroupingHeader) -> None:
        self.counters[header.originator] = header.counter


def signing_key_for(keys: KeyStore, eui: bytes) -> tuple[ec.EllipticCurvePrivateKey, bool]:
    """The device's DS private key from the store, or a throw-away one (True) when the store has none — RTDS
    publishes no device private keys, so such signatures do not verify against the RTDS device certificates."""
    priv = keys.private_key(eui, KeyUsage.DS)
    if priv is not None:
        return priv, False
    return ec.generate_private_key(ec.SECP256R1()), True


def response(keys: KeyStore, device: bytes, command: GroupingHeader, payload: bytes,
             signing_key: ec.EllipticCurvePrivateKey) -> bytes:
    """The device's response: signed by the device when the command was signed, else MAC'd (device↔recipient
    key); raises KeyNotFoundError when the MAC key cannot be derived."""
    h = GroupingHeader(Cra.RESPONSE, command.counter, device, command.originator, command.other_information,
                       payload, None, SignatureField.NULL)
    if command.signature_field is SignatureField.PRESENT:
        h.signature_field = SignatureField.PRESENT
        h.signature = crypto.sign(signing_key, h.signed_bytes())
        return h.encode()
    f = Frame(h, MacHeader())
    auth.apply_mac(keys, f)
    return f.encode()


def certificate_usable(der: bytes) -> bool:
    """A Method C partner certificate the device can use: X.509, a P-256 key, key usage keyAgreement (as both
    RTDS CS03C certificates are). The chain and the subject EUI are not checked: RTDS
    8.7.2_CS03CNonCritical SUCCESS joins 00DB123456789094 with a certificate naming 00DB1234567890A1."""
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except (ValueError, x509.ExtensionNotFound, TypeError):
        return False
    return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1) \
        and usage.key_agreement
