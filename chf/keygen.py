"""`chf keys init DIR`: a fresh test PKI in the RTDS key layout (`<eui>-ka|ds.key|pem`) plus `pki.json`.

Every entity gets a KA and a DS key pair with certificates from a throw-away test CA (ECDSA P-256, as GBCS
uses). Remote parties keep their private keys; so do the hub and the emulated meters, since we play them too.
`pki.json` names who is who, so `chf run` and `chf send` agree without options.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gbcs.keys import KeyUsage, key_filename

PKI_FILE = "pki.json"


@dataclass(frozen=True)
class Pki:
    """Entity IDs of a test PKI (hex EUI-64s)."""

    hub: str = "02C0FFEE00000001"
    acb: str = "90B3D51F30000002"
    supplier: str = "90B3D51F30010000"
    network_operator: str = "90B3D51F30020000"
    esme: str = "02C0FFEE000000E1"
    gsme: str = "02C0FFEE000000E2"

    @classmethod
    def load(cls, keys_dir: str | Path) -> "Pki | None":
        p = Path(keys_dir) / PKI_FILE
        if not p.is_file():
            return None
        return cls(**json.loads(p.read_text()))

    def eui(self, role: str) -> bytes:
        return bytes.fromhex(getattr(self, role))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_key: ec.EllipticCurvePrivateKey, cn: str, ca_key: ec.EllipticCurvePrivateKey, ca_cn: str,
          usage: KeyUsage | None) -> x509.Certificate:
    now = _dt.datetime(2020, 1, 1, tzinfo=_dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(ca_cn))
         .public_key(subject_key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now).not_valid_after(now + _dt.timedelta(days=365 * 50)))
    if usage is None:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    else:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=usage is KeyUsage.DS, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=usage is KeyUsage.KA, key_cert_sign=False, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
    return b.sign(ca_key, hashes.SHA256())


def init_keys(directory: str | Path, pki: Pki | None = None, *, overwrite: bool = False) -> Pki:
    """Create the PKI in `directory`; refuse to overwrite an existing one unless asked."""
    pki = pki or Pki()
    d = Path(directory)
    if (d / PKI_FILE).exists() and not overwrite:
        raise FileExistsError(f"{d / PKI_FILE} exists: a PKI is already there (use --force to replace it)")
    d.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    (d / "ca.pem").write_bytes(_cert(ca_key, "commshub test CA", ca_key, "commshub test CA", None)
                               .public_bytes(serialization.Encoding.PEM))
    for role, eui_hex in asdict(pki).items():
        eui = bytes.fromhex(eui_hex)
        for usage in KeyUsage:
            key = ec.generate_private_key(ec.SECP256R1())
            (d / key_filename(eui, usage, "key")).write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            (d / key_filename(eui, usage, "pem")).write_bytes(
                _cert(key, f"{role} {eui_hex}", ca_key, "commshub test CA", usage)
                .public_bytes(serialization.Encoding.PEM))
    (d / PKI_FILE).write_text(json.dumps(asdict(pki), indent=2) + "\n")
    return pki
