"""Decrypting DLMS protected attributes and encrypted GBZ components with the RTDS keys (gbcs-parser src/crypto.ts)."""

import pytest
from rtds_data import frame, frames

from gbcs import axdr, message
from gbcs.decryption import decrypt
from gbcs.keys import KeyStore


@pytest.fixture(scope="module")
def keys(rtds_keys):
    return KeyStore.from_directory(rtds_keys)


def test_every_encrypted_part_in_rtds_decrypts(keys):
    n = 0
    for rel, data in frames():
        m = message.decode(data, keys)
        for d in decrypt(m, keys):
            assert d.error is None and d.plaintext is not None, (rel, d.error)
            assert len(d.plaintext) == d.length and d.nodes
            assert all(d.offset <= nd.offset < d.offset + d.length for nd in d.nodes), rel
            n += 1
    assert n >= 30


def test_urp_response_uses_the_supplementary_counter_and_party(keys):
    """ECS21b URP response: protection parameters name the ACB and counter 0x516, but the key follows the
    26-byte OI (supplementary originator counter, supplier), gbcs-parser src/crypto.ts"""
    data = frame("4.14_ECS21b/ECS21b_4.14_URP_SUCCESS_RESPONSE_GBCS.HEX")
    m = message.decode(data, keys)
    (d,) = decrypt(m, keys)
    assert d.error is None
    assert axdr.decode_data(d.plaintext).encode() == d.plaintext


def test_tampered_ciphertext_is_reported_not_raised(keys):
    data = bytearray(frame("4.6.1_ECS21a/ECS21a_4.6.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX"))
    m = message.decode(bytes(data), keys)
    (d,) = decrypt(m, keys)
    data[d.offset] ^= 0x01
    (bad,) = decrypt(message.decode(bytes(data), keys, verify=False), keys)
    assert bad.plaintext is None and "does not verify" in bad.error


def test_without_keys_nothing_decrypts(tmp_path):
    data = frame("4.6.1_ECS21a/ECS21a_4.6.1_SINGLE_SUCCESS_RESPONSE_GBCS.HEX")
    (d,) = decrypt(message.decode(data), KeyStore())
    assert d.plaintext is None and d.error
