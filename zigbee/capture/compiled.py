"""Compiled builders for the layouts every captured frame goes through.

A running bench's capture (`tap`) encodes each packet the moment the medium carries it, on the bench's event
loop: MAC, NWK, auxiliary security and APS headers, the CCM* nonce and the pcap record, several times per frame.
construct interprets a layout field by field; `Struct.compile()` turns it into straight Python, about three times
faster to build. The layouts stay the declarations (their conditions are `this` expressions with plain integers,
which compile); parsing keeps using them as they are, so the reader's errors stay construct's. A layout that does
not compile builds uncompiled.
"""

from __future__ import annotations

from typing import Any

import construct as c  # type: ignore[import-untyped]


def builder(layout: c.Construct) -> Any:
    """`layout.compile()`, or `layout` itself when it does not compile."""
    try:
        return layout.compile()
    except Exception:  # construct raises what the generated code raises (SyntaxError, …)
        return layout


class Remembered(c.Subconstruct):  # type: ignore[misc]
    """A fixed-size bit-field layout (frame control, security control) whose octets, once built for some field
    values, are remembered, and whose values, once parsed from some octets, too: the headers of a capture repeat
    a handful of them, and construct handles bit fields slowly even in a compiled layout."""

    LIMIT = 4096

    def __init__(self, subcon: c.Construct) -> None:
        super().__init__(subcon)
        self._built: dict[tuple[Any, ...], bytes] = {}
        self._parsed: dict[bytes, Any] = {}
        self._size = subcon.sizeof()

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        data = c.stream_read(stream, self._size, path)
        got = self._parsed.get(data)
        if got is None:
            got = self.subcon.parse(data)
            if len(self._parsed) < self.LIMIT:
                self._parsed[data] = got
        return c.Container(got)  # a copy: the caller's to keep

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        try:
            key = tuple(obj.items())
            data = self._built.get(key)
        except (AttributeError, TypeError):  # not a dict of hashable values: build it as it is
            key, data = None, None
        if data is None:
            data = self.subcon.build(obj)  # bit fields depend on nothing but their own values
            if key is not None and len(self._built) < self.LIMIT:
                self._built[key] = data
        c.stream_write(stream, data, len(data), path)
        return obj


class Parser:
    """A layout's compiled parser, for the frames that parse (nearly all); a frame the compiled code cannot
    parse is parsed again by the layout itself, so that errors are construct's own, as the reader reports them."""

    def __init__(self, layout: c.Construct) -> None:
        self.layout = layout
        self.compiled = builder(layout)

    def parse(self, data: bytes) -> Any:
        try:
            return self.compiled.parse(data)
        except Exception:  # the layout's own error (or its own result) for what the compiled code refuses
            return self.layout.parse(data)
