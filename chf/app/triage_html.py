"""`chf triage … --html FILE`: the triage report as one self-contained page (inline CSS, SVG and a few lines of
script; nothing fetched from anywhere), for a bench engineer to read or attach to a returns ticket.

Per meter (`[data-meter=EUI][data-state=1|2|3]`): its SECMP0013 state, re-deployable or not, the verdict, the steps
with their service-request numbers, outcome and time, and a sequence diagram (lanes: remote party, QA hub, old hub,
meter) of every frame with its use case; each frame opens to its decode, the explanation `chf decode` prints.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chf.app.dashboard.decode_view import decode_view
from gbcs.errors import DecodeError
from gbcs.frame import decode_frame

if TYPE_CHECKING:
    from gbcs.keys import KeyStore

LANES = ("remote party", "QA hub", "old hub", "meter")
LANE_W, TOP, ROW, LEFT = 170, 46, 26, 230  # SVG geometry: lane spacing, header, one frame a row, step names

CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 20px; color: #111; background: #f6f7f9; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin: 0 0 6px; }
.meter { background: #fff; border: 1px solid #d9dde3; border-radius: 8px; padding: 12px 14px; margin: 0 0 18px; }
.facts span { margin-right: 16px; } .yes { color: #1b7f3b; font-weight: 600; } .no { color: #b3261e; font-weight: 600; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
th { color: #6b7280; font-weight: 500; } td.nw { white-space: nowrap; }
.ok { color: #1b7f3b; } .failed, .timeout { color: #b3261e; } .skipped { color: #6b7280; }
svg { background: #fff; display: block; margin: 8px 0; }
svg .lane { stroke: #c7cdd6; stroke-dasharray: 4 4; } svg .head { font: 600 12px system-ui, sans-serif; }
svg .arrow { stroke: #2563eb; stroke-width: 1.5; } svg .received .arrow { stroke: #0f766e; }
svg text { font: 11px ui-monospace, monospace; } svg a:hover text { fill: #b45309; } svg .step { fill: #6b7280; }
details { margin: 2px 0; } details > summary { cursor: pointer; font-family: ui-monospace, monospace; font-size: 12px; }
details pre { background: #f8fafc; border: 1px solid #e5e7eb; padding: 6px; overflow: auto; font-size: 12px; }
details pre.hex { white-space: pre-wrap; word-break: break-all; }
details:target { outline: 2px solid #f59e0b; }
"""

SCRIPT = """
function openTarget() {
  const t = location.hash && document.getElementById(location.hash.slice(1));
  if (t && t.tagName === "DETAILS") { t.open = true; t.scrollIntoView({block: "center"}); }
}
window.addEventListener("hashchange", openTarget); openTarget();
"""


@dataclass(frozen=True)
class Parties:
    """Who is who on the diagram: the hubs by EUI (the meter is each report's own)."""

    qa: bytes
    old: bytes | None = None


def _lane(eui: bytes, parties: Parties, meter: bytes) -> int:
    if eui == parties.qa:
        return 1
    if parties.old is not None and eui == parties.old:
        return 2
    if eui == meter:
        return 3
    return 0


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _frames(report: dict) -> list[tuple[int, dict]]:
    """Every frame of the report, with the index of its step, in order."""
    return [(i, fr) for i, st in enumerate(report.get("steps", [])) for fr in st.get("frames", [])]


def _ends(fr: dict, parties: Parties, meter: bytes) -> tuple[int, int]:
    """The lanes a frame goes from and to: its originator's and recipient's (a party not drawn: the remote party)."""
    try:
        h = decode_frame(bytes.fromhex(fr["hex"])).header
        src, dst = _lane(h.originator, parties, meter), _lane(h.recipient, parties, meter)
    except (DecodeError, ValueError, KeyError):
        src, dst = (0, 1) if fr.get("direction") == "sent" else (1, 0)
    if src == dst:  # e.g. an alert to a party we do not draw: from its sender to the remote party
        dst = 0 if src else 1
    return src, dst


def _diagram(report: dict, parties: Parties, meter: bytes, prefix: str) -> str:
    frames = _frames(report)
    width = LEFT + LANE_W * len(LANES)
    height = TOP + ROW * (len(frames) + 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="sequence diagram of the frames of meter {_e(report.get("meter"))}">']
    for k, name in enumerate(LANES):
        x = LEFT + LANE_W * k + LANE_W // 2
        out.append(f'<text class="head" x="{x}" y="18" text-anchor="middle">{_e(name)}</text>')
        out.append(f'<line class="lane" x1="{x}" y1="26" x2="{x}" y2="{height - 4}"/>')
    last_step = None
    for n, (step, fr) in enumerate(frames):
        y = TOP + ROW * n + ROW // 2
        src, dst = _ends(fr, parties, meter)
        x1, x2 = LEFT + LANE_W * src + LANE_W // 2, LEFT + LANE_W * dst + LANE_W // 2
        tip = 8 if x2 > x1 else -8
        label = f'{fr.get("use_case", "?")}'
        if step != last_step:
            name = report["steps"][step].get("name", "")
            short = name if len(name) <= 34 else name[:33] + "…"
            out.append(f'<text class="step" x="4" y="{y + 4}"><title>{_e(name)}</title>{_e(short)}</text>')
            last_step = step
        out.append(f'<a href="#{prefix}-{n}" class="{_e(fr.get("direction", ""))}" data-sequence-frame="{n}">'
                   f'<title>{_e(fr.get("direction", ""))} {_e(label)}</title>'
                   f'<line class="arrow" x1="{x1}" y1="{y}" x2="{x2 - tip}" y2="{y}"/>'
                   f'<path class="arrow" d="M{x2 - tip},{y - 4} L{x2},{y} L{x2 - tip},{y + 4}" fill="none"/>'
                   f'<text x="{(x1 + x2) // 2}" y="{y - 4}" text-anchor="middle">{_e(label)}</text></a>')
    out.append("</svg>")
    return "".join(out)


def _meter_section(report: dict, parties: Parties, keys: KeyStore | None, disconnect_code: int | None,
                   index: int) -> str:
    eui = str(report.get("meter", ""))
    try:
        meter = bytes.fromhex(eui)
    except ValueError:
        meter = b""
    prefix = f"m{index}-frame"
    state = report.get("state")
    red = bool(report.get("redeployable"))
    rows = []
    for st in report.get("steps", []):
        outcome = str(st.get("outcome", ""))
        rows.append(f'<tr data-step><td>{_e(st.get("name", ""))}</td><td class="nw">{_e(st.get("service_request", ""))}</td>'
                    f'<td class="nw {_e(outcome)}">{_e(outcome)}</td><td class="nw">{float(st.get("seconds", 0)):.2f} s</td>'
                    f'<td>{_e(st.get("detail", ""))}</td></tr>')
    decodes = []
    for n, (step, fr) in enumerate(_frames(report)):
        uc = str(fr.get("use_case", "?"))
        source = f"{fr.get('direction', '')} in step {step + 1} ({report['steps'][step].get('name', '')})"
        try:
            text = decode_view(bytes.fromhex(fr["hex"]), keys, source, disconnect_code)["text"]
        except ValueError as e:
            text = f"== {source}\n   not a frame: {e}\n"
        src, dst = _ends(fr, parties, meter)
        decodes.append(f'<details id="{prefix}-{n}" data-frame data-use-case="{_e(uc)}">'
                       f'<summary>{n + 1}. {_e(uc)}: {LANES[src]} → {LANES[dst]} ({_e(fr.get("direction", ""))}, '
                       f'step {step + 1})</summary>'
                       f'<pre>{_e(text)}</pre><pre class="hex">{_e(fr.get("hex", ""))}</pre></details>')
    return (f'<section class="meter" data-meter="{_e(eui)}" data-state="{_e(state if state is not None else "")}" '
            f'data-redeployable="{"yes" if red else "no"}">'
            f'<h2>Meter {_e(eui)}</h2><div class="facts"><span>state <b>{_e(state if state is not None else "?")}</b>'
            f'</span><span>re-deployable <span class="{"yes" if red else "no"}">{"yes" if red else "NO"}</span></span>'
            f'<span>verdict: {_e(report.get("verdict", ""))}</span></div>'
            f'<table><tr><th>step</th><th>SR</th><th>outcome</th><th>time</th><th>detail</th></tr>{"".join(rows)}</table>'
            f'{_diagram(report, parties, meter, prefix)}'
            f'<div class="decodes">{"".join(decodes)}</div></section>')


def render(reports: list[dict], parties: Parties, keys: KeyStore | None = None, *, title: str = "",
           disconnect_code: int | None = None) -> str:
    """The whole page for triage reports (`MeterReport.as_dict()` each)."""
    sections = "".join(_meter_section(r, parties, keys, disconnect_code, i) for i, r in enumerate(reports))
    ok = sum(1 for r in reports if r.get("redeployable"))
    head = _e(title or "Returned-meter triage (SECMP0013)")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{head}</title><link rel=\"icon\" href=\"data:,\"><style>{CSS}</style></head><body>"
            f"<h1>{head}</h1><p>{len(reports)} meter(s), {ok} re-deployable. QA hub {parties.qa.hex().upper()}"
            + (f", old hub {parties.old.hex().upper()}" if parties.old else "")
            + f".</p>{sections}<script>{SCRIPT}</script></body></html>\n")


def write_report(path: Path, reports: list[dict], parties: Parties, keys_dir: Path | None,
                 disconnect_code: int | None = None, title: str = "") -> None:
    """Write the page to `path` (whole or not at all); decodes verify with the bench's keys when there are any."""
    keys = None
    if keys_dir is not None:
        from chf.config.keygen import Pki
        from gbcs.keys import KeyStore

        pki = Pki.load(keys_dir)
        keys = KeyStore.from_directory(keys_dir, acb=pki.eui("acb")) if pki is not None else None
    text = render(reports, parties, keys, title=title, disconnect_code=disconnect_code)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
