"""Key material in the RTDS / DCC Boxed directory layout: `<eui>[-pp]-<ka|ds>.pem` and `.key` (gbcs-parser src/crypto.ts).

A `.pem` holds an X.509 certificate (or a bare public key, as `fffffffffffffffe-ka.pem` does); a `.key` a PEM
private key. The store derives the ECDH shared secret of a pair from whichever private key it holds — ECDH is
symmetric, so CHF MACs are reproduced from the ACB private key and the CHF certificate (rtds/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import crypto
from .errors import KeyNotFoundError

ACB_EUI = bytes.fromhex("90B3D51F30000002")  # the RTDS / DCC Boxed Access Control Broker (rtds/README.md)


class KeyUsage(Enum):
    KA = "ka"  # key agreement (MACs, payload encryption)
    DS = "ds"  # digital signing


def eui_text(eui: bytes) -> str:
    return eui.hex().upper()


@dataclass
class KeyStore:
    """Private keys and public keys per (EUI-64, usage, prepayment), with cached ECDH secrets.

    `acb` is the Access Control Broker whose key pair MACs every command (gbcs-parser src/crypto.ts).
    """

    acb: bytes = ACB_EUI
    _private: dict[tuple[bytes, KeyUsage, bool], ec.EllipticCurvePrivateKey] = field(default_factory=dict)
    _public: dict[tuple[bytes, KeyUsage, bool], ec.EllipticCurvePublicKey] = field(default_factory=dict)
    _certificates: dict[tuple[bytes, KeyUsage, bool], bytes] = field(default_factory=dict)
    _secrets: dict[tuple[bytes, bytes, bool], bytes] = field(default_factory=dict)
    _unread: dict[tuple[bytes, KeyUsage, bool], list[Path]] = field(default_factory=dict)  # files not parsed yet

    @classmethod
    def from_directory(cls, path: str | Path, acb: bytes = ACB_EUI) -> "KeyStore":
        """Load every `<eui>[-pp]-<ka|ds>.<pem|key>` file of `path`; other files are ignored."""
        store = cls(acb=acb)
        store.load_directory(path)
        return store

    def load_directory(self, path: str | Path) -> None:
        """Take in the key files of `path`. Each (EUI-64, usage) is read and parsed when first asked for: a bench of
        thousands of entities uses a few at a time, and parsing them all would cost seconds at start."""
        p = Path(path)
        if not p.is_dir():
            raise KeyNotFoundError(f"key directory {p} does not exist")
        for f in sorted(p.iterdir()):
            parsed = parse_key_filename(f.name)
            if parsed is None:
                continue
            eui, usage, pp, _kind = parsed
            self._unread.setdefault((eui, usage, pp), []).append(f)

    def _read(self, k: tuple[bytes, KeyUsage, bool]) -> None:
        """Parse the files of `k` not read yet (`.key` before `.pem`, as sorted). Hubs' threads share one store and
        take no lock here (the core imports this module): `k` leaves `_unread` only once its keys are held, so a
        thread that finds it gone finds them; two threads may both parse it, holding the same keys either way."""
        files = self._unread.get(k)
        if not files:
            return
        for f in files:
            try:
                data = f.read_bytes()
                if f.name.endswith(".key"):
                    key = serialization.load_pem_private_key(data, None)
                    if isinstance(key, ec.EllipticCurvePrivateKey):
                        self._private[k] = key
                else:
                    self._hold_public_pem(k, data)
            except (OSError, ValueError, TypeError) as e:  # the entity has no usable key: say which file
                raise KeyNotFoundError(f"{f}: not a readable PEM key or certificate ({e})") from None
        self._unread.pop(k, None)

    def add_private(self, eui: bytes, usage: KeyUsage, key: ec.EllipticCurvePrivateKey, pp: bool = False) -> None:
        if self._unread:
            self._read((eui, usage, pp))
        self._private[(eui, usage, pp)] = key  # its public key is derived when first asked for (`public_key`)

    def add_public_pem(self, eui: bytes, usage: KeyUsage, pem: bytes, pp: bool = False) -> None:
        if self._unread:
            self._read((eui, usage, pp))
        self._hold_public_pem((eui, usage, pp), pem)

    def _hold_public_pem(self, k: tuple[bytes, KeyUsage, bool], pem: bytes) -> None:
        if b"CERTIFICATE" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            self._certificates[k] = cert.public_bytes(serialization.Encoding.DER)
            pub: object = cert.public_key()
        else:
            pub = serialization.load_pem_public_key(pem)
        if isinstance(pub, ec.EllipticCurvePublicKey):
            self._public[k] = pub

    def private_key(self, eui: bytes, usage: KeyUsage, pp: bool = False) -> ec.EllipticCurvePrivateKey | None:
        if self._unread:
            self._read((eui, usage, pp))
        return self._private.get((eui, usage, pp))

    def public_key(self, eui: bytes, usage: KeyUsage, pp: bool = False) -> ec.EllipticCurvePublicKey | None:
        k = (eui, usage, pp)
        if self._unread:
            self._read(k)
        pub = self._public.get(k)
        if pub is None and k in self._private:  # a private key held without its certificate, or not asked for yet
            pub = self._public[k] = self._private[k].public_key()
        return pub

    def certificate(self, eui: bytes, usage: KeyUsage, pp: bool = False) -> bytes | None:
        """The DER certificate held for (eui, usage), if any."""
        if self._unread:
            self._read((eui, usage, pp))
        return self._certificates.get((eui, usage, pp))

    def has_private(self, eui: bytes, usage: KeyUsage = KeyUsage.KA, pp: bool = False) -> bool:
        if self._unread:
            self._read((eui, usage, pp))
        return (eui, usage, pp) in self._private

    def shared_secret(self, a: bytes, b: bytes, pp: bool = False) -> bytes:
        """ECDH Z of the KA keys of `a` and `b` from whichever private key is held; cached per pair."""
        k = (a, b, pp) if a <= b else (b, a, pp)
        z = self._secrets.get(k)
        if z is not None:
            return z
        for own, peer in ((a, b), (b, a)):
            priv = self.private_key(own, KeyUsage.KA, pp)
            pub = self.public_key(peer, KeyUsage.KA, pp)
            if priv is not None and pub is not None:
                z = crypto.ecdh(priv, pub)
                self._secrets[k] = z
                return z
        raise KeyNotFoundError(
            f"no KA key pair for {eui_text(a)}/{eui_text(b)}{' (prepayment)' if pp else ''}: "
            "need one private key and the other's certificate")

    def can_agree(self, a: bytes, b: bytes, pp: bool = False) -> bool:
        try:
            self.shared_secret(a, b, pp)
            return True
        except KeyNotFoundError:
            return False


def parse_key_filename(name: str) -> tuple[bytes, KeyUsage, bool, str] | None:
    """`00db1234567890a2-ka.pem` -> (eui, KA, prepayment=False, 'pem'); None for other names."""
    stem, dot, ext = name.rpartition(".")
    if not dot or ext not in ("pem", "key"):
        return None
    parts = stem.lower().split("-")
    if len(parts) not in (2, 3) or len(parts[0]) != 16:
        return None
    pp = len(parts) == 3
    if pp and parts[1] != "pp":
        return None
    try:
        eui = bytes.fromhex(parts[0])
        usage = KeyUsage(parts[-1])
    except ValueError:
        return None
    return eui, usage, pp, ext


def key_filename(eui: bytes, usage: KeyUsage, kind: str, pp: bool = False) -> str:
    return f"{eui.hex()}{'-pp' if pp else ''}-{usage.value}.{kind}"
