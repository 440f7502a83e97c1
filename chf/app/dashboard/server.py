"""The dashboard's web server, on the bench's own event loop (aiohttp: an asyncio server with WebSockets built in,
already installed with zigpy, so the page costs the bench no other process or framework).

Routes: `/` the page, `/static/…` its CSS and JavaScript (from this package: nothing from outside the machine),
`/ws` the live feed (a WebSocket: one snapshot, then batched updates, `chf.runtime.dashboard.live`), `/frame/ID`
a frame's decode (worker thread), `/action` the bench's actions (POST JSON, `chf.app.dashboard.actions`).
Every request comes from a peer `--control-from` allows (loopback by default), the control channel's rule: the
page's actions change the bench.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from chf.app.dashboard.actions import ActionError, Actions
from chf.app.dashboard.decode_view import decode_view
from chf.runtime.dashboard.live import Live
from chf.runtime.wan_limits import WanLimits, control_summary, is_loopback, parse_control_from

if TYPE_CHECKING:
    from chf.runtime.bench import RunningBench

log = logging.getLogger("chf.app.dashboard")

STATIC = ("dashboard.css", "dashboard.js")
SEND_QUEUE = 64  # updates a slow page may fall behind by before it is sent a fresh snapshot instead


def _static(name: str) -> bytes:
    return resources.files("chf.app.dashboard").joinpath("static", name).read_bytes()


@dataclass
class Dashboard:
    rb: RunningBench
    live: Live
    actions: Actions
    limits: WanLimits
    runner: web.AppRunner | None = None
    host: str = ""
    port: int = 0
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    # ------------------------------------------------------------------------------------------ app
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._allowed])
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._file)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/frame/{id}", self._frame)
        app.router.add_post("/action", self._action)
        return app

    @web.middleware
    async def _allowed(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not self.limits.control_allowed(request.remote):
            return web.Response(status=403, text=f"the bench dashboard is not open to {request.remote} "
                                                 f"(see --control-from)\n")
        why = self._foreign(request)
        if why is not None:
            return web.Response(status=403, text=why + "\n")
        if request.method == "POST" and request.content_type != "application/json":
            # a form or a text/plain POST is what another site's page could send without asking first
            return web.Response(status=415, text="POST application/json\n")
        resp: web.StreamResponse = await handler(request)
        return resp

    def _foreign(self, request: web.Request) -> str | None:
        """Why a request comes from another site's page rather than ours (None: it does not). The page's actions
        change the bench and its feed shows the bench's frames, so a page of another origin that the user's browser
        runs may neither post nor open the WebSocket (a browser always sends Origin for both), and a loopback page
        answers only to an address or `localhost` as its Host (a DNS name pointed at 127.0.0.1, DNS rebinding,
        would make another site same-origin)."""
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return f"requests from pages of {origin} are refused (this page is {request.scheme}://{request.host})"
        if is_loopback(self.host):
            name = request.host.rsplit(":", 1)[0].strip("[]") if not request.host.endswith("]") \
                else request.host.strip("[]")
            try:
                ipaddress.ip_address(name)
            except ValueError:
                if name != "localhost":
                    return f"Host {request.host!r} refused: a loopback page answers to an address or localhost only"
        return None

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        return web.Response(body=_static(name), content_type=kind, charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    async def _frame(self, request: web.Request) -> web.Response:
        try:
            rec = self.live.frame(int(request.match_info["id"]))
        except ValueError:
            rec = None
        if rec is None:
            return web.json_response({"error": "no such frame in the feed (it keeps the newest ones)"}, status=404)
        source = f"frame {rec.id}: {rec.direction} hub {rec.hub or '?'} at {rec.emulated}"
        view = await asyncio.to_thread(decode_view, rec.data, self.rb.keys, source, self.live.disconnect_code)
        return web.json_response({**rec.row(), **view})

    async def _action(self, request: web.Request) -> web.Response:
        try:
            req = await request.json()
            if not isinstance(req, dict):
                raise ActionError("a JSON object expected")
            out = await self.actions.run(req)
        except ValueError as e:  # ActionError, bad JSON, a field of the wrong kind: the request is wrong
            return web.json_response({"ok": False, "text": str(e)}, status=400)
        except Exception as e:  # the bench stays up whatever one action does
            log.exception("dashboard action %r failed", request)
            return web.json_response({"ok": False, "text": f"failed: {e}"}, status=500)
        return web.json_response(out)

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        self._sockets.add(ws)
        queue: asyncio.Queue[dict | None] = asyncio.Queue(SEND_QUEUE)
        behind = False

        def deliver(msg: dict) -> None:
            nonlocal behind
            try:
                queue.put_nowait(msg)
            except asyncio.QueueFull:
                behind = True  # a fresh snapshot will do instead of the updates it missed

        async def sender() -> None:
            nonlocal behind
            await ws.send_str(json.dumps(await self.live.subscribe(deliver), separators=(",", ":")))
            while True:
                msg = await queue.get()
                if behind:  # a fresh snapshot instead of what it missed; what is queued now is older than it
                    behind = False
                    msg = await self.live.initial()
                    while not queue.empty():
                        queue.get_nowait()
                if msg is None:
                    return
                await ws.send_str(json.dumps(msg, separators=(",", ":")))

        task = asyncio.create_task(sender())
        try:
            async for m in ws:
                if m.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            if deliver in self.live.subscribers:
                self.live.subscribers.remove(deliver)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._sockets.discard(ws)
        return ws

    # ------------------------------------------------------------------------------------------ life
    async def start(self, host: str, port: int) -> None:
        self.live.attach()
        t = asyncio.create_task(self.live.run())
        self._tasks.add(t)
        self.runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.host, self.port = (sockets[0].getsockname()[:2] if sockets else (host, port))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.live.detach()
        # open pages are told the bench is going (they reconnect when it is back), so nothing waits on them
        await asyncio.gather(*(ws.close(code=WSCloseCode.GOING_AWAY, message=b"bench stopping")
                               for ws in list(self._sockets)), return_exceptions=True)
        if self.runner is not None:
            await self.runner.cleanup()


def parse_ui(text: str) -> tuple[str, int]:
    """`--ui HOST:PORT` (port 0 picks a free one); ValueError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--ui HOST:PORT expected, got {text!r}")
    return host.strip("[]"), int(port)


async def start_dashboard(rb: RunningBench, host: str, port: int, *, control_from: list[str] | None = None,
                          disconnect_code: int | None = None, announce: bool = True) -> Dashboard:
    """Serve the dashboard of `rb` on HOST:PORT from this loop; announces `ui listening on http://HOST:PORT/`."""
    nets, _ = parse_control_from(control_from or [])
    limits = WanLimits(control_from=nets) if control_from else WanLimits()
    counters = rb.bench.path.parent / "dashboard-counters.json"
    live = Live(rb, disconnect_code)
    d = Dashboard(rb, live, Actions(rb, live, Path(counters), disconnect_code), limits)
    await d.start(host, port)
    if announce:
        if not is_loopback(d.host):
            print(f"ui: {d.url} listens beyond loopback; the page (and its actions) {control_summary(limits)}",
                  file=sys.stderr, flush=True)
        print(f"ui listening on {d.url}", flush=True)
    return d


def dashboard_starter(ui: str, control_from: list[str], disconnect_code: int | None = None
                      ) -> Callable[[RunningBench], Awaitable[Callable[[], Awaitable[None]]]]:
    """`chf run --ui HOST:PORT`: what starts the dashboard once the bench is up (`chf.runtime.run.OnStart`)."""
    host, port = parse_ui(ui)
    parse_control_from(control_from)  # a bad --control-from is said before the bench starts

    async def start(rb: RunningBench) -> Callable[[], Awaitable[None]]:
        d = await start_dashboard(rb, host, port, control_from=control_from, disconnect_code=disconnect_code)
        return d.close

    return start
