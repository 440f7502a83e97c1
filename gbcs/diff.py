"""Field-by-field differences between two decoded frames, named as `chf decode` names them."""

from __future__ import annotations

from dataclasses import dataclass

from .tree import Node


@dataclass
class Difference:
    path: str
    a: str | None
    b: str | None
    offset_a: int | None
    offset_b: int | None


def flatten(node: Node, prefix: str = "") -> dict[str, tuple[str, int]]:
    """Map a unique field path (names, with [i] for repeats) to (value, offset)."""
    out: dict[str, tuple[str, int]] = {}
    seen: dict[str, int] = {}

    def walk(n: Node, path: str) -> None:
        out[path] = (n.value, n.offset)
        for c in n.children:
            k = seen.get(path + "/" + c.name, 0)
            seen[path + "/" + c.name] = k + 1
            walk(c, f"{path}/{c.name}" + (f"[{k}]" if k else ""))

    walk(node, prefix or node.name)
    return out


def diff_trees(a: Node, b: Node) -> list[Difference]:
    fa, fb = flatten(a, "frame"), flatten(b, "frame")
    out = []
    for path in list(fa) + [p for p in fb if p not in fa]:
        va, vb = fa.get(path), fb.get(path)
        if va is None or vb is None or va[0] != vb[0]:
            out.append(Difference(path, va[0] if va else None, vb[0] if vb else None,
                                  va[1] if va else None, vb[1] if vb else None))
    return out
