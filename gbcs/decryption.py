"""Decrypting the encrypted parts `decode` found in a message, with a key store (gbcs-parser src/crypto.ts).

DLMS protected attributes carry their own protection parameters (originator, recipient, `04` ‖ counter); GBZ
encrypted components use the grouping header with the supplementary originator counter and remote party when
present. AES-GCM is a stream mode, so plaintext byte i sits at the offset of ciphertext byte i: the decrypted
trees are explained at the ciphertext's offsets. Decryption never changes the record, so round trips are
unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import crypto, gbz
from .authentication import payload_key
from .axdr import Spans, decode_data, explain_data
from .dlms import ProtectionParameters
from .errors import AuthenticationError, DecodeError, KeyNotFoundError
from .keys import KeyStore
from .message import Message
from .payload import PayloadType
from .tree import Node


@dataclass
class Decryption:
    """One encrypted part: where its ciphertext starts, and the plaintext (or why there is none)."""

    offset: int
    length: int
    plaintext: bytes | None = None
    error: str | None = None
    nodes: list[Node] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"offset": self.offset, "length": self.length,
                "plaintext": self.plaintext.hex().upper() if self.plaintext is not None else None,
                "error": self.error}


def _dlms_keys(keys: KeyStore, pp: ProtectionParameters) -> list[bytes]:
    """Keys by the protection parameters' own parties and `04 ‖ counter`, KA then prepayment KA ("-pp")."""
    use_ctr = pp.kdf_use_and_counter
    if use_ctr is None:
        return []
    out = []
    for prepayment in (False, True):
        try:
            z = keys.shared_secret(pp.originator, pp.recipient, prepayment)
            out.append(crypto.kdf(z, pp.originator, use_ctr[0], use_ctr[1], pp.recipient))
        except KeyNotFoundError:
            pass
    return out


def _open(candidates: list[bytes], originator: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    if not candidates:
        raise KeyNotFoundError("no KA key pair for the payload's parties")
    for key in candidates[:-1]:
        try:
            return crypto.decrypt_payload(key, originator, ciphertext, tag)
        except AuthenticationError:
            continue
    return crypto.decrypt_payload(candidates[-1], originator, ciphertext, tag)


def decrypt(msg: Message, keys: KeyStore, *, explain: bool = True) -> list[Decryption]:
    """Decrypt every encrypted part `decode` found in `msg` (`msg.protected`) that the key store allows; the
    plaintext is always decoded (a malformed one is an error) and explained when `explain`."""
    out: list[Decryption] = []
    h = msg.header
    if msg.payload_type is PayloadType.DLMS:
        for pa in msg.protected:
            at = pa.offsets["ciphertext"]
            d = Decryption(at, len(pa.ciphertext))
            try:
                pp = pa.parameters[0]
                d.plaintext = _open(_header_keys(keys, msg) + _dlms_keys(keys, pp),
                                    pp.originator, pa.ciphertext, pa.tag)
                spans = Spans(at)
                data = decode_data(d.plaintext, at, spans)  # one A-XDR Data (gbcs-parser src/dlms.ts)
                if explain:
                    d.nodes = [explain_data(data, spans, 0, "decrypted")]
            except (KeyNotFoundError, AuthenticationError, DecodeError) as e:
                d.error = str(e)
            out.append(d)
    elif msg.payload_type is PayloadType.GBZ:
        for c in msg.protected:
            ci = c.ciphered
            d = Decryption(ci.offset, len(ci.ciphertext))
            try:
                d.plaintext = _open(_header_keys(keys, msg), h.originator, ci.ciphertext, ci.tag)
                z = gbz.decode_plaintext(c, d.plaintext, ci.offset)
                if explain:
                    d.nodes = gbz.explain_plaintext(c, z, ci.offset, len(d.plaintext))
            except (KeyNotFoundError, AuthenticationError, DecodeError) as e:
                d.error = str(e)
            out.append(d)
    return out


def _header_keys(keys: KeyStore, msg: Message) -> list[bytes]:
    """Keys by the grouping-header rule: supplementary originator counter and remote party when present
    (gbcs-parser src/parser.ts handleDecryptGbcsData; e.g. RTDS 4.14_ECS21b URP response, whose protection
    parameters name the ACB instead)."""
    out = []
    for prepayment in (False, True):
        try:
            out.append(payload_key(keys, msg.header, prepayment))
        except KeyNotFoundError:
            pass
    return out
