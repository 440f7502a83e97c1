"""A frame's decode for the dashboard: the explanation `chf decode` prints, line by line, each line with the byte
range of its field, so the page can highlight the field under the pointer in the text and in the hex."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gbcs.errors import DecodeError

if TYPE_CHECKING:
    from gbcs.keys import KeyStore
    from gbcs.tree import Node


def decode_view(data: bytes, keys: KeyStore | None, source: str, disconnect_code: int | None = None) -> dict:
    """{"hex", "text", "lines": [{"text", "offset", "length"}], "ok"}: `text` is what `chf decode` prints for the
    frame (`chf.app.decode_command.report`); a line without a field has offset None."""
    from gbcs import message
    from gbcs.decryption import decrypt
    from gbcs.explain import explain

    lines: list[dict] = [{"text": f"== {source}", "offset": None, "length": None}]
    try:
        msg = message.decode(data, keys, disconnect_code=disconnect_code)
    except DecodeError as e:
        lines.append({"text": f"   error at byte {e.offset}, field {e.field}: {e.reason}", "offset": e.offset,
                      "length": 1})
        return _done(data, lines, False)
    decrypted = decrypt(msg, keys, explain=True) if keys is not None else []
    tree = explain(msg, data, decrypted)
    _walk(tree, "", lines)
    lines.append({"text": f"   MAC {msg.mac.value}, signature {msg.signature.value}, "
                          f"round trip {'exact' if message.roundtrips(msg, data) else 'DIFFERS'}",
                  "offset": None, "length": None})
    lines.append({"text": "", "offset": None, "length": None})
    return _done(data, lines, msg.mac.value != "invalid" and msg.signature.value != "invalid")


def _walk(n: Node, pad: str, out: list[dict]) -> None:
    """As `gbcs.tree.Node.render`, keeping each line's field."""
    at = str(n.offset).rjust(5)
    out.append({"text": f"{at}  {pad}{n.name}: {n.value}" if n.value else f"{at}  {pad}{n.name}",
                "offset": n.offset, "length": n.length})
    for c in n.children:
        _walk(c, pad + "  ", out)


def _done(data: bytes, lines: list[dict], ok: bool) -> dict:
    return {"hex": data.hex().upper(), "text": "\n".join(ln["text"] for ln in lines), "lines": lines, "ok": ok}
