"""`chf keys init DIR`: a fresh test PKI in the RTDS key layout (`<eui>-ka|ds.key|pem`) plus `pki.json`.

Every entity gets a KA and a DS key pair with certificates from a throw-away test CA (ECDSA P-256, as GBCS
uses). Remote parties keep their private keys; so do the hub and the emulated meters, since we play them too.
`pki.json` names who is who, so `chf run` and `chf send` agree without options.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
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
    # More entities with keys (bench hubs and meters): hex EUI-64 -> a label ("hub A", "esme", ...)
    entities: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, keys_dir: str | Path) -> "Pki | None":
        """pki.json of `keys_dir` (None: there is none). Read again only when the file changed: the hubs of a
        bench each load the bench's one PKI, which names every hub and meter."""
        p = Path(keys_dir) / PKI_FILE
        try:
            st = p.stat()
        except OSError:
            return None
        if not p.is_file():
            return None
        stamp = (str(p.absolute()), st.st_mtime_ns, st.st_size, st.st_ino)
        hit = _loaded.get(stamp[0])
        if hit is not None and hit[0] == stamp:
            return replace(hit[1], entities=dict(hit[1].entities))
        pki = cls(**json.loads(p.read_text()))
        _loaded[stamp[0]] = (stamp, pki)
        return replace(pki, entities=dict(pki.entities))

    def eui(self, role: str) -> bytes:
        return bytes.fromhex(getattr(self, role))

    def roles(self) -> dict[str, str]:
        """role -> hex EUI of the fixed entities."""
        return {k: v for k, v in asdict(self).items() if k != "entities"}


_loaded: dict[str, tuple[tuple[str, int, int, int], Pki]] = {}  # path → (stamp, PKI): `Pki.load`'s last reads


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
    files = [(d / "ca.pem", _cert(ca_key, CA_NAME, ca_key, CA_NAME, None).public_bytes(serialization.Encoding.PEM)),
             (d / CA_KEY, _pem(ca_key))]
    roles = pki.roles()
    wanted = list(roles.items())
    fixed = set(roles.values())
    wanted += [(label, eui_hex) for eui_hex, label in pki.entities.items() if eui_hex not in fixed]
    _issue(d, ca_key, [(bytes.fromhex(eui_hex), label) for label, eui_hex in wanted], files)
    (d / PKI_FILE).write_text(json.dumps(asdict(pki), indent=2) + "\n")  # last: its presence says the PKI is whole
    return pki


CA_NAME = "commshub test CA"
CA_KEY = "ca-key.pem"  # kept so that a bench can add entities later (a test PKI: no secret worth guarding)
WRITERS = 4  # threads writing key files while the next keys are made (file creation waits on the disk)
WRITE_AHEAD = 256  # files made but not yet written, at most (memory stays flat however many entities)


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _issue(d: Path, ca_key: ec.EllipticCurvePrivateKey, entities: list[tuple[bytes, str]],
           files: list[tuple[Path, bytes]]) -> None:
    """A KA and a DS key pair with certificates for each (EUI-64, label), written to `d` (with `files`) by a few
    threads while the next pairs are made: on a bench of thousands of entities the disk, not the CPU, is the
    wait. Returns when every file is written; the first write error is raised."""
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="keygen") as pool:
        pending: deque[Future[int]] = deque()

        def write(path: Path, data: bytes) -> None:
            while len(pending) >= WRITE_AHEAD:
                pending.popleft().result()
            pending.append(pool.submit(path.write_bytes, data))

        for path, data in files:
            write(path, data)
        for eui, label in entities:
            for usage in KeyUsage:
                key = ec.generate_private_key(ec.SECP256R1())
                cert = _cert(key, f"{label} {eui.hex().upper()}", ca_key, CA_NAME, usage)
                write(d / key_filename(eui, usage, "key"), _pem(key))
                write(d / key_filename(eui, usage, "pem"), cert.public_bytes(serialization.Encoding.PEM))
        while pending:
            pending.popleft().result()


def ensure_entities(directory: str | Path, entities: dict[bytes, str], hub: bytes | None = None) -> Pki:
    """A PKI in `directory` with keys for every entity named (creating the PKI on first use, adding the missing
    entities later); `hub` becomes pki.json's default hub. Used by benches: one PKI for every hub and meter."""
    d = Path(directory)
    pki = Pki.load(d)
    wanted = {e.hex().upper(): label for e, label in entities.items()}
    if pki is None:
        base = Pki()
        return init_keys(d, replace(base, hub=hub.hex().upper() if hub else base.hub, entities=wanted))
    known = set(pki.roles().values()) | set(pki.entities)
    added = {e: label for e, label in wanted.items() if e not in known}
    if not added:
        return pki
    if not (d / CA_KEY).is_file():
        raise FileNotFoundError(f"{d / CA_KEY} is missing: cannot add entities to this PKI (make a new one)")
    ca_key = serialization.load_pem_private_key((d / CA_KEY).read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    _issue(d, ca_key, [(bytes.fromhex(e), label) for e, label in added.items()], [])
    pki = replace(pki, entities={**pki.entities, **added})
    (d / PKI_FILE).write_text(json.dumps(asdict(pki), indent=2) + "\n")
    return pki
