"""Where each decoded A-XDR `Data` node lies in the bytes it was decoded from, recorded by the decoder.

The decoder appends four ints per tagged node in pre-order (the order it reads them): start (the tag byte),
header end (first content or child byte), end, and the flat index of the next node after this one's subtree.
Explanations, JSON offsets and the protected-attributes finder read these spans instead of re-encoding.
Compact-array contents are one region (from the header end to the end of the compact-array node).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple


class Span(NamedTuple):
    """One node's extent, absolute: `start` (tag), `header_end` (first content byte), `end`."""

    start: int
    header_end: int
    end: int


class Spans:
    """The spans of every tagged node one decoder call read (see the module docstring); `base` makes them absolute."""

    __slots__ = ("base", "flat")

    def __init__(self, base: int = 0) -> None:
        self.base = base
        self.flat: list[int] = []

    def __len__(self) -> int:
        return len(self.flat) >> 2

    def span(self, i: int) -> Span:
        """The span of the node at flat index `i` (a multiple of 4)."""
        f = self.flat
        b = self.base
        return Span(b + f[i], b + f[i + 1], b + f[i + 2])

    def start(self, i: int) -> int:
        return self.base + self.flat[i]

    def end(self, i: int) -> int:
        return self.base + self.flat[i + 2]

    def next(self, i: int) -> int:
        """Flat index of the node after `i`'s subtree (its next sibling, or the next top-level node)."""
        return self.flat[i + 3]

    def children(self, i: int, count: int) -> Iterator[int]:
        """Flat indexes of the `count` children of the array/structure at `i`."""
        j = i + 4
        f = self.flat
        for _ in range(count):
            yield j
            j = f[j + 3]

    def tops(self) -> Iterator[int]:
        """Flat indexes of the top-level nodes, in the order they were decoded."""
        i = 0
        f = self.flat
        while i < len(f):
            yield i
            i = f[i + 3]
