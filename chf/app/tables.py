"""The tables `chf` prints (rich): one width rule for all of them, and plain text when nobody is looking.

On a terminal a table fits the terminal's width (rich reads it; `COLUMNS` overrides). Written to a pipe or a
file, where no width can be read, it is `COLUMNS` wide when that is set, else `FALLBACK_WIDTH`: wide enough for
every row of `chf radios` and `chf inventory show` to stay on one line, so `grep` and `awk` see whole rows. A
cell wider than its column wraps (long words fold); no cell is ever cut short. Off a terminal the text carries no
styling and no trailing blanks. A reader gone (`| head`) raises BrokenPipeError to `chf`'s main, which ends
quietly (rich's own reaction, exit status 1, is not used).
"""

from __future__ import annotations

import errno
import io
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

FALLBACK_WIDTH = 160


def _is_terminal(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def width_for(file: TextIO) -> int | None:
    """The width tables get on `file`: None (rich asks the terminal, or reads `COLUMNS`) on a terminal or when
    `COLUMNS` is set, else FALLBACK_WIDTH."""
    return None if _is_terminal(file) or os.environ.get("COLUMNS", "").isdigit() else FALLBACK_WIDTH


def console(file: TextIO | None = None, width: int | None = None, plain: bool = False) -> Console:
    """A rich Console on `file` (default: standard output as it is now) at `width` (default `width_for(file)`);
    cell text is printed as it is (no markup, emoji codes or highlighting: `[valid]` stays `[valid]`); `plain`:
    no colour or style even where the environment asks for it (FORCE_COLOR)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1 itself: leave it to `chf`'s main
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    file = sys.stdout if file is None else file
    return _Console(file=file, width=width if width is not None else width_for(file), markup=False, emoji=False,
                    highlight=False, **({"color_system": None} if plain else {}))


class _Text(io.StringIO):
    """Where a table is rendered as text for a stream of this encoding (rich draws ASCII boxes where the
    encoding is not UTF)."""

    def __init__(self, encoding: str | None) -> None:
        super().__init__()
        self._encoding = encoding or "utf-8"

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._encoding


def render(t: Table | Any, width: int, encoding: str | None = "utf-8") -> str:
    """`t` as plain text `width` columns wide for a stream in `encoding`: no styling, no trailing blanks, each
    line ending in a newline."""
    c = console(_Text(encoding), width, plain=True)
    with c.capture() as cap:
        c.print(t)
    return "".join(ln.rstrip() + "\n" for ln in cap.get().splitlines())


def table(*headers: str, title: str | None = None, boxed: bool = False, keep: tuple[str, ...] = ()) -> Table:
    """A table with these column headers: by default borderless with a rule under the header, so each row is a
    line that starts with its first cell; `boxed` draws rich's box (for cells of several lines). Columns named
    in `keep` (identifiers: EUIs, ports) are the last to wrap when the width is short."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.HEAVY_HEAD if boxed else box.SIMPLE_HEAD, show_edge=boxed, pad_edge=boxed,
              header_style="bold", title_style="bold", title_justify="center" if boxed else "left")
    for h in headers:
        t.add_column(h, overflow="fold", no_wrap=h in keep)
    return t


def print_table(t: Table | Any, file: TextIO | None = None) -> None:
    """Print `t` (a rich Table or any rich renderable) on `file` (default standard output) by the width rule."""
    c = console(file)
    if c.is_terminal:
        c.print(t)
    else:
        c.file.write(render(t, c.width, getattr(c.file, "encoding", None)))


def markdown_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A markdown table (rich's MARKDOWN box) to paste into a document: at its natural width whatever the
    terminal's, since a wrapped row would no longer be markdown; `|` in a cell is escaped."""
    from rich import box
    from rich.table import Table

    t = Table(box=box.MARKDOWN, header_style="", show_edge=True)
    for h in headers:
        t.add_column(h, no_wrap=True)
    for r in rows:
        t.add_row(*(str(c).replace("|", "\\|") for c in r))
    natural = console(io.StringIO(), 1_000_000, plain=True).measure(t).maximum
    return "".join(ln + "\n" for ln in render(t, natural).splitlines() if ln.strip())  # MARKDOWN: blank top/bottom
