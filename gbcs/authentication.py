"""Which keys protect a frame, and checking or applying its MAC and signature (gbcs-parser src/crypto.ts, src/parser.ts).

Commands are MAC'd between the Access Control Broker and the recipient, whoever the grouping-header originator
is; responses and alerts between originator and recipient (gbcs-parser src/crypto.ts, verified on RTDS). Signatures use the
originator's DS key over the grouping header from `09` through the payload (gbcs-parser src/parser.ts).
"""

from __future__ import annotations

from enum import Enum

from . import crypto
from .errors import KeyNotFoundError
from .frame import Frame, MacHeader
from .grouping_header import Cra, GroupingHeader, SignatureField
from .keys import KeyStore, KeyUsage


class Verdict(Enum):
    """Outcome of a check: `unknown` when the keys needed are not held, `absent` when nothing is there to check."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"
    ABSENT = "absent"


# Commands that a HAN device sends to another (PPMID → GSME/ESME, HCALCS → ESME): no remote party or ACB is
# involved, so they are MAC'd between the two devices (message_codes.json names: PCS01/PCS02 "from/using PPMID",
# PECS01-03 "using/from PPMID", HECS01 "from HCALCS"; RTDS 4.5.0 item 1 on the PCS MACs).
HAN_ORIGINATED_COMMANDS = frozenset({0x0090, 0x009B, 0x0116, 0x0117, 0x0118, 0x0119})


def mac_parties(header: GroupingHeader, acb: bytes) -> tuple[bytes, bytes]:
    """The two entities whose KA keys MAC this message."""
    if header.cra is Cra.COMMAND and header.message_code not in HAN_ORIGINATED_COMMANDS:
        return acb, header.recipient
    return header.originator, header.recipient


def mac_key(store: KeyStore, header: GroupingHeader) -> bytes:
    """The per-message GMAC key (KDF with F = CRA); raises KeyNotFoundError."""
    a, b = mac_parties(header, store.acb)
    z = store.shared_secret(a, b)
    return crypto.kdf(z, header.originator, int(header.cra), header.counter, header.recipient)


def compute_mac(store: KeyStore, frame: Frame) -> bytes:
    return crypto.gmac(mac_key(store, frame.header), frame.header.originator, frame.mac_aad())


def check_mac(store: KeyStore | None, frame: Frame, wire: bytes | None = None) -> Verdict:
    """MAC verdict. `wire`, the bytes `frame` was decoded from, spares re-encoding the grouping header."""
    if frame.mac is None:
        return Verdict.ABSENT
    if store is None:
        return Verdict.UNKNOWN
    try:
        key = mac_key(store, frame.header)
    except KeyNotFoundError:
        return Verdict.UNKNOWN
    if wire is not None:
        gh, end = frame.offsets["grouping_header"], frame.offsets["mac"]
        aad = wire[gh - 5:gh] + b"\x00" + wire[gh:end]
    else:
        aad = frame.mac_aad()
    ok = crypto.mac_matches(key, frame.header.originator, aad, frame.mac)
    return Verdict.VALID if ok else Verdict.INVALID


def check_signature(store: KeyStore | None, header: GroupingHeader, wire: bytes | None = None) -> Verdict:
    """Signature verdict; `wire` as for `check_mac` (the signed bytes are then sliced, not re-encoded)."""
    if header.signature_field is not SignatureField.PRESENT or header.signature is None:
        return Verdict.ABSENT
    pub = store.public_key(header.originator, KeyUsage.DS) if store is not None else None
    if pub is None:
        return Verdict.UNKNOWN
    signed = wire[header.offsets["start"] + 1:header.offsets["signature"]] if wire is not None \
        else header.signed_bytes()
    return Verdict.VALID if crypto.verify(pub, signed, header.signature) else Verdict.INVALID


def sign_header(store: KeyStore, header: GroupingHeader) -> None:
    """Sign `header` in place with its originator's DS private key; raises KeyNotFoundError."""
    priv = store.private_key(header.originator, KeyUsage.DS)
    if priv is None:
        raise KeyNotFoundError(f"no DS private key for {header.originator.hex().upper()}")
    header.signature_field = SignatureField.PRESENT
    header.signature = crypto.sign(priv, header.signed_bytes())


def apply_mac(store: KeyStore, frame: Frame) -> None:
    """Compute and set the frame's MAC in place (adds a MAC header if the frame had none)."""
    if frame.mac_header is None:
        frame.mac_header = MacHeader()
    frame.mac = compute_mac(store, frame)


def payload_key(store: KeyStore, header: GroupingHeader, pp: bool = False) -> bytes:
    """Payload-encryption key (KDF with F = 04): supplementary originator counter and remote party when present
    (gbcs-parser src/crypto.ts)."""
    oi = header.other_information
    counter = oi.supplementary_originator_counter if oi.supplementary_originator_counter is not None \
        else header.counter
    party = oi.supplementary_remote_party_id or header.recipient
    z = store.shared_secret(header.originator, party, pp)
    return crypto.kdf(z, header.originator, crypto.KdfUse.PAYLOAD_ENCRYPTION, counter, party)
