// commshub bench dashboard: the page's own plain JavaScript (no framework, no build step, nothing from outside).
// State comes over the WebSocket /ws: one snapshot, then batched updates (hubs, meters, links, new frames).
// Stable attributes for tests and rig scripts: [data-hub=NAME] (holds its EUI), [data-eui=EUI][data-state=STATE],
// [data-device-log-entry=EUI] inside its hub, [data-frame][data-use-case=NAME], [data-decode],
// [data-hub=NAME] [data-action=power].
"use strict";

const S = { hubs: new Map(), meters: new Map(), links: [], frames: [], limit: 2000, clock: null, page: 0,
            selected: null };
const PAGE = 100;  // frames shown at once (paginated: a busy feed never puts thousands of rows in the page)
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function status(text, bad) {
  const s = $("status");
  s.textContent = text;
  s.className = "status" + (bad ? " bad" : "");
}

async function act(body) {
  status(`${body.action} …`);
  try {
    const r = await fetch("/action", { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(body) });
    const out = await r.json();
    const got = out.received && out.received.length ? `  [frames back: ${out.received.join(", ")}]` : "";
    status(out.text + got, !out.ok);
  } catch (e) {
    status(`${body.action}: ${e}`, true);
  }
}

// ---------------------------------------------------------------------------------------------- hubs
// A meter's hub choices: on a big bench a select holds just its chosen hub until it is used, so a 100-hub bench
// does not build (and lay out) 100 options for every meter's two selects; a small bench gets them at once.
const EAGER_HUBS = 16;
const choice = new Map();  // meter EUI → {hub, to}: the page's choices survive the card being redrawn
function hubSelect(eui, field, selected) {
  const sel = el("select", { "data-field": field }, el("option", { value: selected, selected: true }, selected));
  const fill = () => {
    if (sel.dataset.full) return;
    sel.dataset.full = "1";
    const keep = sel.value;
    sel.replaceChildren(...[...S.hubs.keys()].map((n) => el("option", { value: n, selected: n === keep }, n)));
  };
  for (const ev of ["focus", "pointerdown", "keydown"]) sel.addEventListener(ev, fill);
  sel.addEventListener("change", () => { choice.set(eui, { ...(choice.get(eui) || {}), [field]: sel.value }); });
  if (S.hubs.size <= EAGER_HUBS) fill();
  return sel;
}

function renderHub(h) {
  const log = el("table", {},
    el("tr", {}, el("th", {}, "device"), el("th", {}, "type"), el("th", {}, "join state"),
       el("th", {}, "TC link key hash"), el("th", {}, "LQI/RSSI")),
    h.device_log.map((e) => el("tr", { "data-device-log-entry": e.eui, title: e.status_names.join(", ") },
      el("td", { class: "mono" }, e.eui), el("td", {}, e.device_type),
      el("td", { class: e.joined ? "state-joined" : "state-factory" }, e.joined ? "joined" : "not joined"),
      el("td", { class: "mono" }, e.hashed_tc_link_key ? e.hashed_tc_link_key.slice(0, 16) + "…" : "–"),
      el("td", {}, e.lqi === null ? "–" : `${e.lqi}/${e.rssi}`))));
  const historic = h.historic_device_log.length ? el("table", {},
    el("tr", {}, el("th", {}, "historic device log"), el("th", {}, "TC link key hash")),
    h.historic_device_log.map((e) => el("tr", { "data-historic-entry": e.eui },
      el("td", { class: "mono" }, e.eui), el("td", { class: "mono" }, e.hashed_tc_link_key.slice(0, 16) + "…"))))
    : el("div", { class: "muted" }, "historic device log: empty");
  return el("div", { class: "card hub" + (h.powered ? "" : " powered-off"), "data-hub": h.name,
                     "data-powered": h.powered ? "on" : "off" },
    el("div", { class: "title" }, el("b", {}, h.name), el("span", { class: "mono" }, h.eui),
       el("span", { class: "badge " + (h.powered ? "on" : "off") }, h.powered ? "radio on" : "radio off"),
       el("span", { class: "muted" }, `WAN ${h.wan}`)),
    el("div", { class: "muted" }, `channel ${h.channel ?? "–"} · PAN ${h.pan_id ?? "–"} · EPID ${h.extended_pan_id ?? "–"}`),
    h.device_log.length ? log : el("div", { class: "muted" }, "device log: empty"), historic,
    el("div", { class: "actions" },
       el("button", { "data-action": "power", onclick: () => act({ action: "power", hub: h.name, on: !h.powered }) },
          h.powered ? "Power radio off" : "Power radio on"),
       el("button", { "data-action": "ccs07", onclick: () => act({ action: "ccs07", hub: h.name }) },
          "Back up (CCS07)")));
}

// ---------------------------------------------------------------------------------------------- meters
function renderMeter(m) {
  const net = m.network;
  const onHub = net ? net.hub_name : null;
  const names = [...S.hubs.keys()], was = choice.get(m.eui) || {};
  const hubSel = hubSelect(m.eui, "hub", was.hub || onHub || names[0]);
  const toSel = hubSelect(m.eui, "to", was.to || names.find((n) => n !== (was.hub || onHub)) || names[0]);
  const log = m.device_log.length ? el("table", {},
    el("tr", {}, el("th", {}, "own device log"), el("th", {}, "type")),
    m.device_log.map((e) => el("tr", {}, el("td", { class: "mono" }, e.eui), el("td", {}, e.device_type))))
    : el("div", { class: "muted" }, "own device log: empty");
  return el("div", { class: "card meter", "data-eui": m.eui, "data-state": m.state, "data-type": m.type },
    el("div", { class: "title" }, el("b", {}, m.type.toUpperCase()), el("span", { class: "mono" }, m.eui),
       el("span", { class: "state-" + m.state }, m.state), m.dead ? el("span", { class: "badge off" }, "dead") : null),
    el("div", { class: "muted" }, net ? `on hub ${onHub || net.hub} · PAN ${net.pan_id} · EPID ${net.extended_pan_id} · NWK ${net.nwk}`
                                       : "on no network",
       ` · LQI/RSSI ${m.lqi ?? "–"}/${m.rssi ?? "–"} · keep-alive misses ${m.keep_alive_misses}`),
    log,
    el("div", { class: "actions" }, "hub ", hubSel,
       el("button", { "data-action": "ccs01", disabled: !m.install_code_known,
                      onclick: () => act({ action: "ccs01", hub: hubSel.value, meter: m.eui }) }, "Install (CCS01)"),
       el("button", { "data-action": "cs07", onclick: () => act({ action: "cs07", hub: hubSel.value, meter: m.eui }) },
          "Read device log (CS07)"),
       el("button", { "data-action": "disconnect",
                      onclick: () => act({ action: "disconnect", hub: hubSel.value, meter: m.eui }) }, "Disconnect"),
       " restore from hub onto ", toSel,
       el("button", { "data-action": "ccs03",
                      onclick: () => act({ action: "ccs03", hub: hubSel.value, to: toSel.value, meter: m.eui }) },
          "Restore (CCS03)")));
}

const shown = new Map();  // "hub:NAME" / "meter:EUI" → its card in the page
function put(container, key, node) {
  const old = shown.get(key);
  if (old) old.replaceWith(node); else container.append(node);
  shown.set(key, node);
}

// ---------------------------------------------------------------------------------------------- links (SVG)
const NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function renderLinks() {
  // Each hub is a cell with the meters on its network under it; meters on no network get a row of their own below,
  // with dashed lines to the hubs they hear. A small bench gets labels; a big one names nodes on hover.
  const hubs = [...S.hubs.values()], meters = [...S.meters.values()];
  const W = 1000, small = hubs.length <= 6;
  const cell = small ? W / Math.max(hubs.length, 1) : 50, perRow = Math.max(1, Math.floor(W / cell));
  const cols = small ? Math.max(1, Math.floor(cell / 120)) : 2, dx = small ? 120 : 20, mh = small ? 40 : 18;
  const groups = new Map(hubs.map((h) => [h.name, []])), loose = [];
  for (const m of meters) {
    const hn = m.network && m.network.hub_name;
    (hn && groups.has(hn) ? groups.get(hn) : loose).push(m);
  }
  const pos = new Map();
  let y = 24;
  for (let r = 0; r < hubs.length; r += perRow) {
    let deepest = 0;
    hubs.slice(r, r + perRow).forEach((h, i) => {
      const x = cell * (i + 0.5), own = groups.get(h.name);
      pos.set("h:" + h.name, [x, y]);
      own.forEach((m, k) => pos.set("m:" + m.eui, [x + ((k % cols) - (cols - 1) / 2) * dx, y + 46 + Math.floor(k / cols) * mh]));
      deepest = Math.max(deepest, Math.ceil(own.length / cols));
    });
    y += 46 + deepest * mh + (small ? 16 : 14);
  }
  if (loose.length) {
    y += small ? 50 : 36;  // room for the dashed lines up to the hubs they hear
    const lw = Math.min(small ? 160 : 50, W / loose.length), lpr = Math.max(1, Math.floor(W / lw));
    loose.forEach((m, i) => pos.set("m:" + m.eui, [lw * (i % lpr + 0.5), y + Math.floor(i / lpr) * mh]));
    y += Math.ceil(loose.length / lpr) * mh;
  }
  const H = y + (small ? 24 : 10);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "radio links" });
  for (const l of S.links) {
    const a = pos.get("h:" + l.hub), b = pos.get("m:" + l.meter);
    if (!a || !b) continue;
    root.append(svg("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1], class: l.joined ? "joined" : "heard",
                              "data-link": `${l.hub}-${l.meter}` },
                    svg("title", {}, `${l.meter} ↔ hub ${l.hub}: LQI ${l.lqi}, RSSI ${l.rssi} dBm` +
                        (l.joined ? " (joined)" : " (heard)") + (l.heard > 1 ? `; hears ${l.heard} hubs` : ""))));
  }
  for (const h of hubs) {
    const [x, y] = pos.get("h:" + h.name);
    root.append(svg("g", { class: "hub-node" + (h.powered ? "" : " off"), transform: `translate(${x},${y})` },
      svg("circle", { r: 9 }), svg("text", { y: -13, "text-anchor": "middle" }, h.name + (h.powered ? "" : " (off)")),
      svg("title", {}, `hub ${h.name} ${h.eui}: radio ${h.powered ? "on" : "off"}`)));
  }
  for (const m of meters) {
    const [x, y] = pos.get("m:" + m.eui);
    const joined = m.state === "joined" || m.state === "re-joined";
    root.append(svg("g", { class: "meter-node" + (joined ? " joined" : ""), transform: `translate(${x},${y})` },
      svg("rect", { x: -7, y: -7, width: 14, height: 14, rx: 2 }),
      small ? svg("text", { y: 20, "text-anchor": "middle" }, m.type.toUpperCase() + " …" + m.eui.slice(-4)) : "",
      svg("title", {}, `${m.type} ${m.eui}: ${m.state}`)));
  }
  $("links").replaceChildren(root);
}

// ---------------------------------------------------------------------------------------------- frames
const DIRS = { "wan-in": "WAN → hub", "wan-out": "hub → WAN", "han-to-meter": "HAN → meter", "han-to-hub": "HAN → hub" };

function filtered() {
  const hub = $("f-hub").value, meter = $("f-meter").value;
  const ucs = $("f-uc").value.toUpperCase().split(/[\s,]+/).filter(Boolean);  // one or more names, exact
  return S.frames.filter((f) => (!hub || f.hub === hub) && (!meter || f.meter === meter) &&
                                (!ucs.length || ucs.includes((f.use_case || "").toUpperCase())));
}

function renderFeed() {
  const all = filtered();
  const pages = Math.max(1, Math.ceil(all.length / PAGE));
  S.page = Math.min(S.page, pages - 1);
  const start = all.length - S.page * PAGE, shown = all.slice(Math.max(0, start - PAGE), start).reverse();
  $("feed").replaceChildren(...shown.map((f) => el("div", {
      class: "row" + (S.selected === f.id ? " sel" : ""), "data-frame": f.id, "data-use-case": f.use_case,
      "data-direction": f.direction, "data-hub-name": f.hub, "data-meter": f.meter, onclick: () => openFrame(f.id) },
    el("span", { title: `emulated ${f.emulated}` }, new Date(f.at * 1000).toLocaleTimeString()), el("span", {}, DIRS[f.direction] || f.direction),
    el("span", {}, f.hub || "–"), el("span", {}, f.meter || "–"), el("b", {}, f.use_case),
    el("span", { class: "muted" }, f.cra), el("span", { class: /invalid|not checked/.test(f.verdict) || f.error ? "bad" : "" },
      (f.counter ? `ctr ${f.counter} · ` : "") + (f.error || f.verdict)))));
  $("page").textContent = `page ${S.page + 1}/${pages}`;
  $("frame-count").textContent = `(${all.length} shown of the newest ${S.limit} kept)`;
}

async function openFrame(id) {
  S.selected = id;
  renderFeed();
  const pane = $("decode-pane");
  pane.removeAttribute("data-decode");
  pane.replaceChildren(el("p", { class: "muted" }, `decoding frame ${id} …`));
  const r = await fetch(`/frame/${id}`);
  const d = await r.json();
  if (!r.ok) { pane.replaceChildren(el("p", { class: "bad" }, d.error)); return; }
  const bytes = [];
  for (let i = 0; i < d.hex.length; i += 2) bytes.push(el("span", { "data-at": i / 2 }, d.hex.slice(i, i + 2)));
  const hex = el("div", { class: "hex mono" }, bytes.flatMap((b, i) => (i % 16 === 15 ? [b, el("br")] : [b, " "])));
  const lines = el("div", { class: "lines" }, d.lines.map((ln) => el("div", {
    "data-offset": ln.offset, "data-length": ln.length }, ln.text || " ")));
  const mark = (off, len) => {
    bytes.forEach((b, i) => b.classList.toggle("hl", off !== null && i >= off && i < off + len));
  };
  lines.addEventListener("mouseover", (ev) => {
    const t = ev.target.closest("[data-offset]");
    lines.querySelectorAll(".hl").forEach((x) => x.classList.remove("hl"));
    if (!t) { mark(null, 0); return; }
    t.classList.add("hl");
    mark(+t.dataset.offset, +t.dataset.length);
  });
  hex.addEventListener("mouseover", (ev) => {
    const t = ev.target.closest("[data-at]");
    if (!t) return;
    const at = +t.dataset.at;
    let best = null;  // the narrowest field holding the byte: the one under the pointer
    for (const div of lines.children) {
      const o = div.dataset.offset, n = div.dataset.length;
      if (o === undefined || n === undefined) continue;
      if (at >= +o && at < +o + +n && (!best || +n <= +best.dataset.length)) best = div;
    }
    lines.querySelectorAll(".hl").forEach((x) => x.classList.remove("hl"));
    if (best) { best.classList.add("hl"); mark(+best.dataset.offset, +best.dataset.length); best.scrollIntoView({ block: "nearest" }); }
  });
  pane.replaceChildren(el("div", {}, el("div", { class: "muted" }, `${d.size} bytes, ${d.use_case} ${d.cra} · ${d.verdict || d.error}`), hex), lines);
  pane.setAttribute("data-decode", id);
}

// ---------------------------------------------------------------------------------------------- the feed
function refreshFilters() {
  for (const [id, keys] of [["f-hub", [...S.hubs.keys()]], ["f-meter", [...S.meters.keys()]]]) {
    const sel = $(id), want = sel.value;
    if (sel.options.length - 1 === keys.length) continue;
    sel.replaceChildren(el("option", { value: "" }, "all"), ...keys.map((k) => el("option", { value: k, selected: k === want }, k)));
  }
}

function apply(msg) {
  if (msg.type === "snapshot") {
    S.hubs.clear(); S.meters.clear(); S.frames = [];
    $("hubs").replaceChildren(); $("meters").replaceChildren(); shown.clear();
    S.limit = msg.feed_limit || S.limit;
    $("bench").textContent = msg.bench || "";
  }
  for (const h of msg.hubs || []) S.hubs.set(h.name, h);
  for (const h of msg.hubs || []) put($("hubs"), "hub:" + h.name, renderHub(h));
  for (const m of msg.meters || []) { S.meters.set(m.eui, m); put($("meters"), "meter:" + m.eui, renderMeter(m)); }
  if (msg.links) S.links = msg.links;
  if (msg.frames) {
    S.frames.push(...msg.frames);
    if (S.frames.length > S.limit) S.frames.splice(0, S.frames.length - S.limit);
  }
  if (msg.clock) { S.clock = { ...msg.clock, at: Date.now() }; }
  if (msg.hubs || msg.meters || msg.links) renderLinks();
  if (msg.frames || msg.type === "snapshot") renderFeed();
  $("hub-count").textContent = `(${S.hubs.size})`;
  $("meter-count").textContent = `(${S.meters.size})`;
  refreshFilters();
}

function tick() {  // the emulated clock runs on between updates: time_scale emulated seconds per real second
  if (!S.clock) return;
  const t = new Date(Date.parse(S.clock.emulated_time) + (Date.now() - S.clock.at) * S.clock.time_scale);
  $("clock").textContent = isNaN(t) ? S.clock.emulated_time : t.toISOString().replace(".000Z", "Z");
  $("scale").textContent = `×${S.clock.time_scale}`;
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => { $("conn").textContent = "live"; $("conn").className = "badge on"; };
  ws.onmessage = (ev) => apply(JSON.parse(ev.data));
  ws.onclose = () => {
    $("conn").textContent = "disconnected"; $("conn").className = "badge off";
    setTimeout(connect, 2000);  // the bench restarted or the network blinked: a fresh snapshot on reconnect
  };
}

$("advance").addEventListener("click", () => act({ action: "advance", seconds: Number($("advance-s").value) }));
for (const id of ["f-hub", "f-meter"]) $(id).addEventListener("change", () => { S.page = 0; renderFeed(); });
$("f-uc").addEventListener("input", () => { S.page = 0; renderFeed(); });
$("newer").addEventListener("click", () => { S.page = Math.max(0, S.page - 1); renderFeed(); });
$("older").addEventListener("click", () => { S.page += 1; renderFeed(); });
setInterval(tick, 1000);
connect();
