"""GBCS crypto primitives against published vectors (RTDS 4.5.0 V8; docs/codec.md)."""

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from gbcs import crypto
from gbcs.errors import AuthenticationError
from gbcs.keys import KeyStore, KeyUsage

H = bytes.fromhex


def test_gcm_gbcs_iv_rule_vector():
    # RTDS 4.5.0: key 00..0F, originator 90B3D51F30030000, AAD "helloworld", empty plaintext.
    mac = crypto.gmac(H("000102030405060708090A0B0C0D0E0F"), H("90B3D51F30030000"), b"helloworld")
    assert mac == H("FB3AFED43B78508864F00DA3")


def test_payload_encryption_vector_and_tamper():
    key, orig = H("000102030405060708090A0B0C0D0E0F"), H("90B3D51F30030000")
    # The §11.2 vector uses AAD "helloworld"; our payload recipe fixes AAD = 0x31, so check the
    # round trip and the tag prefix rule instead, then the published ciphertext with the raw GCM call.
    ct, tag = crypto.encrypt_payload(key, orig, b"one two three")
    assert crypto.decrypt_payload(key, orig, ct, tag) == b"one two three"
    with pytest.raises(AuthenticationError):
        crypto.decrypt_payload(key, orig, ct, bytes([tag[0] ^ 1]) + tag[1:])
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    sealed = AESGCM(key).encrypt(crypto.iv_for(orig), b"one two three", b"helloworld")
    assert sealed[:-16] == H("584FA806B24491178829D46C38")
    assert sealed[-16:-4] == H("6B33BDCB1E223242EC20B957")


def test_section_18_4_vector():
    """GBCS §18.4 ECS04b critical command (RTDS 4.5.0 V8): ECDH Z, KDF key, MAC and supplier signature."""
    acb_priv = ec.derive_private_key(int("E4A6CFB431471CFCAE491FD566D19C87082CF9FA7722D7FA24B2B3F5669DBEFB", 16),
                                     ec.SECP256R1())
    dev_ka = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + H(
        "2DB45A3F21889438B42C8F464C75292BACF5FDDB5DA0B492501B299CBFE92D8F"
        "DB90FC8FF4026129838B1BCAD1402CAE47FE7D8084E409A41AFCE16D63579C5F"))
    z = crypto.ecdh(acb_priv, dev_ka)
    assert z == H("9AACF2E6D51BD5FF8F37BF368019A691CB5B2FCB7B5F030A00063647B20E13FE")
    key = crypto.kdf(z, H("123456789ABCDEF0"), 1, 1, H("FFFFFFFFFFFFFFFE"))
    assert key == H("859B846A24E1EA70A168409A1180676B")
    frame = H("DD00000000000081A91100000000DF0901000000000000000108123456789ABCDEF008FFFFFFFFFFFFFFFE000200B335"
              "D92000000100030300700000130A00FF020300700000130A01FF020300700000130A02FF020305000000000500000000"
              "05000000004059045AB0F554622B0360340B9D87B5A23ED5723B41DE3F206E58CDD10F915B9FE2E12E2DA3632478A8DF"
              "678E418895869AC1E55318CCE04D120D2D6B44DC167B5D832D15B57A56D620F198B3")
    from gbcs.frame import decode_frame
    f = decode_frame(frame)
    assert crypto.gmac(key, f.header.originator, f.mac_aad()) == f.mac == H("5D832D15B57A56D620F198B3")
    sup_ds = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + H(
        "76628E1C84EF7935548AE5D62C7BB3AD28964CF794F0387A697EEC19CDD98F46"
        "0A4D5E19087EF7216ED89C29831A6EE838C8DE88EF34F11D3F41F36D80B2A5D5"))
    assert crypto.verify(sup_ds, f.header.signed_bytes(), f.header.signature)
    tampered = bytearray(f.header.signature)
    tampered[5] ^= 0x10
    assert not crypto.verify(sup_ds, f.header.signed_bytes(), bytes(tampered))


def test_sign_verify_raw_rs():
    k = ec.generate_private_key(ec.SECP256R1())
    sig = crypto.sign(k, b"grouping header")
    assert len(sig) == 64
    assert crypto.verify(k.public_key(), b"grouping header", sig)
    assert not crypto.verify(k.public_key(), b"grouping headeR", sig)
    assert not crypto.verify(k.public_key(), b"grouping header", sig[:63])


def test_aes_mmo_install_code_vector():
    # Silicon Labs install-code vector: code + CRC-16/X-25 (little-endian) -> AES-MMO link key.
    from chf.core.install_code import link_key, with_crc

    assert with_crc(H("83FED3407A939723A5C639B26916D505")) == H("83FED3407A939723A5C639B26916D505C3B5")
    assert link_key(H("83FED3407A939723A5C639B26916D505")) == H("66B6900981E1EE3CA4206B6B861C02BB")


def test_kdf_vectors_with_rtds_keys(rtds_keys):
    """RTDS 4.5.0: command/response/alert MAC keys from the RTDS key store."""
    ks = KeyStore.from_directory(rtds_keys)
    acb, sup, esme = H("90B3D51F30000002"), H("90B3D51F30010000"), H("00DB1234567890A0")
    z = ks.shared_secret(acb, esme)
    assert crypto.kdf(z, sup, 1, 0x100000000, esme) == H("6A93E360717394015DF93E031218C9A6")
    z2 = ks.shared_secret(esme, sup)
    assert crypto.kdf(z2, esme, 2, 0x100000000, sup) == H("03FD30815577C49EB7E3834B63EF8302")
    assert crypto.kdf(z2, esme, 3, 0x7D1, sup) == H("558FB1FA6660AF0D9E8365C47804B8FA")
    # ECDH symmetry is what lets the store reproduce CHF MACs without a CHF private key.
    assert ks.shared_secret(esme, acb) == z
    assert ks.public_key(H("00DB1234567890A2"), KeyUsage.KA) is not None
    assert ks.private_key(H("00DB1234567890A2"), KeyUsage.KA) is None
