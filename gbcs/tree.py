"""The explanation tree every codec produces: named fields with absolute byte offsets, for `chf decode`."""

from __future__ import annotations


class Node:
    """One field of a frame: `name`, where it is (`offset`, `length` in bytes) and what it means (`value`).

    A plain slotted class rather than a dataclass: `chf decode` builds ~60 of these per frame, and the
    generated `__init__` with a `default_factory` costs a third more per node.
    """

    __slots__ = ("children", "length", "name", "offset", "value")

    def __init__(self, name: str, offset: int, length: int, value: str = "",
                 children: list[Node] | None = None) -> None:
        self.name = name
        self.offset = offset
        self.length = length
        self.value = value
        self.children: list[Node] = [] if children is None else children

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.offset}, {self.length}, {self.value!r}, {len(self.children)} children)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return (self.name, self.offset, self.length, self.value, self.children) == \
            (other.name, other.offset, other.length, other.value, other.children)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def add(self, name: str, offset: int, length: int, value: str = "") -> Node:
        child = Node(name, offset, length, value)
        self.children.append(child)
        return child

    def render(self, indent: int = 0) -> list[str]:
        """One line per node, depth first: offset, indentation by depth, name and value."""
        lines: list[str] = []
        append = lines.append

        def walk(n: Node, pad: str) -> None:
            at = str(n.offset).rjust(5)  # as f"{offset:5d}", at two thirds of the cost (~60 lines a frame)
            append(f"{at}  {pad}{n.name}: {n.value}" if n.value else f"{at}  {pad}{n.name}")
            if n.children:
                inner = pad + "  "
                for c in n.children:
                    walk(c, inner)

        walk(self, "  " * indent)
        return lines

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "offset": self.offset, "length": self.length}
        if self.value:
            d["value"] = self.value
        if self.children:
            d["children"] = [c.as_dict() for c in self.children]
        return d
