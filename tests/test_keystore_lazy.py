"""The key store reads each key when first asked for (a bench of thousands of entities uses few at start): the
same keys as reading every file at once, and a damaged file is a typed error naming it when its key is used."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from chf.config.keygen import ensure_entities
from gbcs.errors import KeyNotFoundError
from gbcs.keys import KeyStore, KeyUsage, key_filename

E1, E2 = bytes.fromhex("02C0FFEE000E5E01"), bytes.fromhex("02C0FFEE000E5E02")


def _pub(k) -> bytes:
    return k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_keys_read_when_first_used_are_the_files_keys(tmp_path):
    pki = ensure_entities(tmp_path, {E1: "esme", E2: "gsme"})
    keys = KeyStore.from_directory(tmp_path, acb=pki.eui("acb"))
    assert keys._unread and not keys._private  # nothing parsed yet
    for eui in (E1, E2, pki.eui("acb")):
        for usage in KeyUsage:
            priv = serialization.load_pem_private_key((tmp_path / key_filename(eui, usage, "key")).read_bytes(), None)
            assert keys.has_private(eui, usage)
            assert _pub(keys.private_key(eui, usage).public_key()) == _pub(priv.public_key())
            assert _pub(keys.public_key(eui, usage)) == _pub(priv.public_key())
            assert keys.certificate(eui, usage) is not None
    assert keys.shared_secret(E1, pki.eui("acb")) == keys.shared_secret(pki.eui("acb"), E1)
    assert keys.private_key(bytes(8), KeyUsage.KA) is None  # an entity it has no file for


def test_a_damaged_key_file_is_a_typed_error_naming_it_when_used(tmp_path):
    ensure_entities(tmp_path, {E1: "esme", E2: "gsme"})
    bad = tmp_path / key_filename(E1, KeyUsage.DS, "key")
    bad.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    keys = KeyStore.from_directory(tmp_path)  # indexing reads no key
    assert keys.private_key(E2, KeyUsage.DS) is not None  # the others are fine
    with pytest.raises(KeyNotFoundError, match=bad.name):
        keys.private_key(E1, KeyUsage.DS)
