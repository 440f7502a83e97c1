"""Key confirmation: MACU (initiator) and MACV (responder) over both identities and both ephemeral keys."""

from __future__ import annotations

import hmac

from gbcs.mmo import hmac_mmo

MAC_OCTETS = 16
EUI64_OCTETS = 8
MACU_TAG = 0x02
MACV_TAG = 0x03


def _mac(mac_key: bytes, tag: int, first_id: bytes, second_id: bytes, first_point: bytes, second_point: bytes) -> bytes:
    for identity in (first_id, second_id):
        if len(identity) != EUI64_OCTETS:
            raise ValueError(f"an identity is an {EUI64_OCTETS}-octet EUI-64, got {len(identity)} octets")
    return hmac_mmo(mac_key, bytes([tag]) + first_id + second_id + first_point + second_point)


def mac_u(mac_key: bytes, initiator: bytes, responder: bytes, qeu: bytes, qev: bytes) -> bytes:
    """MACU = MAC(MacKey, 02 ‖ IDU ‖ IDV ‖ QEU ‖ QEV); IDs are big-endian EUI-64s, points compressed (SE Annex
    C.4.2.4.4)."""
    return _mac(mac_key, MACU_TAG, initiator, responder, qeu, qev)


def mac_v(mac_key: bytes, initiator: bytes, responder: bytes, qeu: bytes, qev: bytes) -> bytes:
    """MACV = MAC(MacKey, 03 ‖ IDV ‖ IDU ‖ QEV ‖ QEU) (SE Annex C.4.2.4.4)."""
    return _mac(mac_key, MACV_TAG, responder, initiator, qev, qeu)


def macs_equal(received: bytes, expected: bytes) -> bool:
    """Compare a received MAC with the expected one in time independent of where they differ."""
    return hmac.compare_digest(received, expected)
