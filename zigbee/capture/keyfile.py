"""Wireshark's ZigBee key table `zigbee_pc_keys` (WIRESHARK.md §4), written beside a capture and read back, and
the `KeyRing` the capture reader decrypts with.

Format (Wireshark's UAT files, `epan/uat.c`): one record per line, three double-quoted fields separated by
commas — key, byte order (`Normal` or `Reverse`), label — `"`, `\\` and non-printable characters escaped as
`\\xHH`; lines starting with `#` are comments. A key is 16 octets in hex, optionally separated by `:`, `-` or
spaces, or a 16-character string written with its quotes (`"\\x22ZigBeeAlliance09\\x22"`). The same table
serves NWK and APS: store TC link keys unhashed (Wireshark hashes them for key identifiers 2 and 3 itself).
This reader also takes plain lines: a hex key, optionally followed by whitespace and a label.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

UAT_NAME = "zigbee_pc_keys"
KEY_SIZE = 16
_HEX_SEPARATORS = re.compile(r"[:\-\s]")


class KeyFileError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class KeyEntry:
    key: bytes
    label: str = ""


def _escape(text: str) -> str:
    out: list[str] = []
    for ch in text:
        if ch in '"\\' or not ch.isprintable() or ord(ch) > 0x7E:
            out.extend(f"\\x{b:02x}" for b in ch.encode())
        else:
            out.append(ch)
    return "".join(out)


def format_key(key: bytes) -> str:
    if len(key) != KEY_SIZE:
        raise ValueError(f"a ZigBee key has 16 octets, not {len(key)}")
    return ":".join(f"{b:02x}" for b in key)


def record(entry: KeyEntry) -> str:
    """One line of the table: `"<key>","Normal","<label>"`."""
    return f'"{format_key(entry.key)}","Normal","{_escape(entry.label)}"'


def uat_option(entry: KeyEntry) -> str:
    """The same record as a tshark option value: `-o uat:zigbee_pc_keys:<this>`."""
    return f"uat:{UAT_NAME}:{record(entry)}"


def write(path: str | Path, entries: Iterable[KeyEntry], *, comment: str = "") -> None:
    """Write the table (replacing the file). `comment` becomes `#` lines at the top."""
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [record(e) for e in entries]
    Path(path).write_text("\n".join(lines) + "\n", encoding="ascii")


def _unescape(text: str, line: int) -> str:
    out = bytearray()
    i = 0
    raw = text.encode("utf-8")
    while i < len(raw):
        b = raw[i]
        if b == 0x5C:  # backslash
            if raw[i + 1:i + 2] == b"x" and re.fullmatch(rb"[0-9a-fA-F]{2}", raw[i + 2:i + 4]):
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
            if i + 1 < len(raw):
                out.append(raw[i + 1])
                i += 2
                continue
            raise KeyFileError(line, "a backslash ends the field")
        out.append(b)
        i += 1
    return out.decode("utf-8", errors="replace")


def _fields(text: str, line: int) -> list[str]:
    fields = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text) or text[i] != '"':
            raise KeyFileError(line, f"expected a double-quoted field at column {i + 1}")
        j = i + 1
        while j < len(text) and text[j] != '"':
            j += 2 if text[j] == "\\" else 1
        if j >= len(text):
            raise KeyFileError(line, "unterminated quoted field")
        fields.append(_unescape(text[i + 1:j], line))
        i = j + 1
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):
            return fields
        if text[i] != ",":
            raise KeyFileError(line, f"expected a comma at column {i + 1}")
        i += 1


def parse_key(text: str, line: int = 0) -> bytes:
    """A key field: 32 hex digits (separators `:`, `-`, space allowed) or a quoted 16-character string."""
    if text.startswith('"'):
        if len(text) == KEY_SIZE + 2 and text.endswith('"'):
            return text[1:-1].encode("latin-1")
        raise KeyFileError(line, "a string key is 16 characters between double quotes")
    digits = _HEX_SEPARATORS.sub("", text)
    if len(digits) != 2 * KEY_SIZE or not re.fullmatch(r"[0-9a-fA-F]+", digits):
        raise KeyFileError(line, f"expecting 16 hexadecimal bytes or a 16 character double-quoted string: {text!r}")
    return bytes.fromhex(digits)


def parse(text: str) -> list[KeyEntry]:
    entries = []
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith('"'):
            fields = _fields(s, n)
            if len(fields) != 3:
                raise KeyFileError(n, f"{len(fields)} fields, expecting key, byte order, label")
            key = parse_key(fields[0], n)
            if fields[1] == "Reverse":
                key = key[::-1]
            elif fields[1] != "Normal":
                raise KeyFileError(n, f"byte order {fields[1]!r} is neither Normal nor Reverse")
            entries.append(KeyEntry(key, fields[2]))
            continue
        try:
            entries.append(KeyEntry(parse_key(s, n), f"line {n}"))
        except KeyFileError:
            head, *label = re.split(r"\s+", s, maxsplit=1)
            entries.append(KeyEntry(parse_key(head, n), label[0] if label else f"line {n}"))
    return entries


def read(path: str | Path) -> list[KeyEntry]:
    return parse(Path(path).read_text(encoding="utf-8"))


class KeyRing:
    """Keys to try, in Wireshark's order: keys learned from the capture (Transport-Key), newest first, then the
    table, last entry first. Every key is tried whatever the key identifier says; APS hashes link keys itself."""

    def __init__(self, entries: Iterable[KeyEntry | bytes] = ()) -> None:
        self.table: list[KeyEntry] = [e if isinstance(e, KeyEntry) else KeyEntry(bytes(e)) for e in entries]
        self.learned: list[KeyEntry] = []
        for e in self.table:
            if len(e.key) != KEY_SIZE:
                raise ValueError(f"key {e.label!r} has {len(e.key)} octets, not 16")

    @classmethod
    def from_file(cls, path: str | Path) -> KeyRing:
        return cls(read(path))

    def add(self, key: bytes, label: str = "") -> None:
        self.table.append(KeyEntry(key, label))

    def learn(self, key: bytes, label: str) -> bool:
        """Add a key seen in the capture; False when it was known already."""
        if any(e.key == key for e in self.learned):
            return False
        self.learned.append(KeyEntry(key, label))
        return True

    def __iter__(self) -> Iterator[tuple[bytes, str]]:
        seen: set[bytes] = set()
        for e in [*reversed(self.learned), *reversed(self.table)]:
            if e.key not in seen:
                seen.add(e.key)
                yield e.key, e.label

    def __len__(self) -> int:
        return len({e.key for e in [*self.learned, *self.table]})
