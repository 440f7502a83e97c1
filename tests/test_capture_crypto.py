"""Published test vectors for the capture layer's security primitives (`zigbee.capture.crypto`, `security`).

Sources: ZigBee Specification 05-3474 Annex C "Test Vectors for Cryptographic Building Blocks": C.3 (CCM* mode
encryption and authentication, security level 6, M = 8), C.5.1-C.5.6 (the MMO hash, on both sides of the 2^16-bit
padding boundary), C.6.1 (the keyed hash HMAC-MMO); transcribed from the spec in geoffrey-vl/c-crumbs
`tests/aes-ccm.c` ("053474r20 … Annex C", clause C.3) and `tests/aes-mmo.c` (05-3474-21 §C.5), and
Koenkk/zigbee-herdsman `test/zspec/utils.test.ts` (C.6.1). The install-code example (code 83FE…D505, CRC C3B5,
link key 66B6…02BB) is the ZigBee specification's as quoted by zigbee-herdsman and ZBOSS; zigpy checks the same.
Key-transport / key-load keys of that link key and the NWK frame at the end are WIRESHARK.md's, which tshark 4.0
decrypted.
"""

import pytest

from zigbee.capture import crypto
from zigbee.capture.mac import crc16_kermit
from zigbee.capture.security import AuxHeader, KeyId, seal

H = bytes.fromhex


def test_ccm_star_annex_c3_level_6():
    key = bytes(range(0xC0, 0xD0))
    nonce = bytes(range(0xA0, 0xA8)) + H("03020100") + H("06")
    a = bytes(range(0x00, 0x08))
    m = bytes(range(0x08, 0x1F))
    expected = H("1A55A36ABB6C610D066B3375649CEF10D4664ECAD854A80A895CC1D8FF9469")
    assert crypto.ccm_star_encrypt(key, nonce, a, m, crypto.mic_length(6)) == expected
    assert crypto.ccm_star_decrypt(key, nonce, a, expected, 8) == m
    with pytest.raises(crypto.MicError):
        crypto.ccm_star_decrypt(key, nonce, a, expected[:-1] + b"\x00", 8)
    with pytest.raises(crypto.MicError):
        crypto.ccm_star_decrypt(key, nonce, a + b"\x08", expected, 8)


@pytest.mark.parametrize(("clause", "message", "digest"), [
    ("C.5.1", H("C0"), "AE3A102A28D43EE0D4A09E22788B206C"),
    ("C.5.2", bytes(range(0xC0, 0xD0)), "A7977E88BC0B61E8210827109A228F2D"),
    ("C.5.3", bytes(i % 256 for i in range(8191)), "24EC2FE75BBFFCB34789BC0610E7F165"),
    ("C.5.4", bytes(i % 256 for i in range(8192)), "DC6B0687F09F8607131C170B3BD31591"),
    ("C.5.5", bytes(i % 256 for i in range(8201)), "72C9B15E178AA843E4A16C58E33643A3"),
    ("C.5.6", bytes(i % 256 for i in range(8202)), "BC9828D59B2AA323DAF20BE5F2E66511"),
])
def test_mmo_hash_annex_c5(clause, message, digest):
    assert crypto.mmo_hash(message).hex().upper() == digest, clause


def test_keyed_hash_annex_c61():
    key = bytes(range(0x40, 0x50))
    inner = crypto.mmo_hash(bytes(k ^ 0x36 for k in key) + H("C0"))
    assert inner.hex().upper() == "3C3D537529A7A9A03F669DCD886CB52C"
    assert crypto.keyed_hash(key, H("C0")).hex().upper() == "4512807BF94CB3400F0E2C25FB76E999"


def test_install_code_example():
    code = H("83FED3407A939723A5C639B26916D505")
    assert crypto.crc16_x25(code) == 0xB5C3
    link_key = H("66B6900981E1EE3CA4206B6B861C02BB")
    assert crypto.install_code_key(code) == link_key               # GBCS form: no CRC
    assert crypto.install_code_key(code + H("C3B5")) == link_key   # with its CRC, LSB first
    with pytest.raises(ValueError, match="CRC"):
        crypto.install_code_key(code + H("B5C3"))
    with pytest.raises(ValueError):
        crypto.install_code_key(code[:5])


def test_key_transport_and_key_load_keys():
    link_key = H("66B6900981E1EE3CA4206B6B861C02BB")
    assert crypto.key_transport_key(link_key) == H("3c6cca8977eb189efd1614c3e7f75989")
    assert crypto.key_load_key(link_key) == H("1177a0ee2600d0020dba82d7049f53bc")


def test_fcs_is_crc16_kermit():
    assert crc16_kermit(b"123456789") == 0x2189


def test_nwk_frame_worked_example():
    """WIRESHARK.md §3: key 0102…10, 0x7A31 / 00:0d:6f:00:0a:0b:0c:02 → 0x0000, counter 77, level 0 on air."""
    key = H("0102030405060708090a0b0c0d0e0f10")
    aux = AuxHeader(KeyId.NETWORK, 77, H("000d6f000a0b0c02"), key_seq=0)
    assert aux.nonce(aux.source) == H("020c0b0a006f0d00" "4d000000" "2d")
    header = H("4802 0000 317a 1e 07".replace(" ", ""))
    plaintext = H("00012500090101071005000000 0100".replace(" ", ""))
    frame = seal(key, header, aux, aux.source, plaintext)
    assert frame == header + H("28 4d000000 020c0b0a006f0d00 00".replace(" ", "")) \
        + H("21238643f5fbdca36da009ea6b55ba" "82acb485")
