"""The explanation tree every codec produces: named fields with absolute byte offsets, for `chf decode`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    """One field of a frame: `name`, where it is (`offset`, `length` in bytes) and what it means (`value`)."""

    name: str
    offset: int
    length: int
    value: str = ""
    children: list["Node"] = field(default_factory=list)

    def add(self, name: str, offset: int, length: int, value: str = "") -> "Node":
        child = Node(name, offset, length, value)
        self.children.append(child)
        return child

    def render(self, indent: int = 0) -> list[str]:
        """One line per node, depth first: offset, indentation by depth, name and value."""
        lines: list[str] = []
        append = lines.append

        def walk(n: Node, pad: str) -> None:
            append(f"{n.offset:5d}  {pad}{n.name}: {n.value}" if n.value else f"{n.offset:5d}  {pad}{n.name}")
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
