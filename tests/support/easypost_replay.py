"""Replay EasyPost's own recorded API traffic on loopback, for the real `easypost` SDK.

Why: nothing here may reach EasyPost, yet we want the official SDK's real request/response
handling exercised against real EasyPost responses. The recordings (VCR cassettes from
EasyPost/easypost-python) live in the shared folder beside the repository and are read at
run time, never copied into the project.

Usage::

    with ReplayServer(["test_shipment_buy"]) as server:
        client = easypost.EasyPostClient("key", api_base=server.api_base)
        ...
        assert server.unmatched == []

Requests are matched on method + path + query string; when several recorded interactions
match (e.g. two `POST /v2/shipments` in different cassettes), one whose recorded JSON body
equals the received one wins, otherwise the earliest unused one (call order). A GET whose
recordings are all used replays its last recording again (polling is idempotent); other
methods answer 404 `REPLAY.NO_MATCH`. `inject()` queues one-off answers (errors, delays)
that take precedence over the recordings.

A `GET /v2/shipments/<id>` with no recording of its own is answered with the shipment as
the most recent recorded response this server *served* for it left it (its create, then
its buy): a retrieve after a replayed buy sees the bought shipment, exactly as recorded,
and a shipment never served is a 404 like any other unrecorded request.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ruamel.yaml import YAML

SHARED_DIR = Path(__file__).resolve().parents[2].parent / "shared"
EASYPOST_FIXTURES_DIR = SHARED_DIR / "fixtures" / "easypost"
CASSETTES_DIR = EASYPOST_FIXTURES_DIR / "cassettes"

__all__ = [
    "CASSETTES_DIR",
    "EASYPOST_FIXTURES_DIR",
    "SHARED_DIR",
    "Interaction",
    "ReceivedRequest",
    "ReplayServer",
    "load_cassette",
    "replay_server",
]


@dataclass
class Interaction:
    """One recorded request/response pair."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    content_type: str
    response_body: str
    source: str = ""
    used: bool = False

    def json(self) -> Any:
        """The recorded response body, decoded."""
        return json.loads(self.response_body)


@dataclass
class ReceivedRequest:
    """A request the server received, kept for assertions."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_body: bytes
    matched: str | None = None

    @property
    def json(self) -> Any:
        return json.loads(self.raw_body) if self.raw_body else None


@dataclass
class _Injection:
    method: str
    path: str
    status: int
    body: str
    delay: float
    remaining: int


def _parse_body(text: Any) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def load_cassette(name_or_path: str | Path) -> list[Interaction]:
    """Read one VCR cassette (by file name without `.yaml`, or path) into interactions."""
    path = Path(name_or_path)
    if not path.suffix:
        path = CASSETTES_DIR / f"{name_or_path}.yaml"
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    interactions = []
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        url = urlsplit(request["uri"])
        headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        content_type = headers.get("content-type", ["application/json"])
        if isinstance(content_type, list):
            content_type = content_type[0]
        interactions.append(
            Interaction(
                method=request["method"].upper(),
                path=url.path,
                query=parse_qs(url.query),
                body=_parse_body(request.get("body")),
                status=int(response["status"]["code"]),
                content_type=str(content_type),
                response_body=response["body"]["string"],
                source=path.stem,
            )
        )
    return interactions


@dataclass
class ReplayServer:
    """Threaded HTTP server on 127.0.0.1 (random free port) replaying cassettes."""

    cassettes: Iterable[str | Path] = ()
    host: str = "127.0.0.1"
    interactions: list[Interaction] = field(default_factory=list)
    requests: list[ReceivedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._injections: list[_Injection] = []
        self._served_shipments: dict[str, Interaction] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.load(*self.cassettes)

    # -- configuration --------------------------------------------------------------------

    def load(self, *cassettes: str | Path) -> ReplayServer:
        """Add the interactions of more cassettes (in order)."""
        with self._lock:
            for cassette in cassettes:
                self.interactions.extend(load_cassette(cassette))
        return self

    def inject(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        body: Any = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next `times` `method path` requests with this instead of a recording.

        `delay` holds the answer back (to provoke client timeouts); it is cut short when the
        server stops so tests never hang.
        """
        text = body if isinstance(body, str) else json.dumps(body if body is not None else {})
        with self._lock:
            self._injections.append(_Injection(method.upper(), path, status, text, delay, times))

    @property
    def unmatched(self) -> list[ReceivedRequest]:
        """Received requests that neither a recording nor an injection answered."""
        return [r for r in self.requests if r.matched is None]

    def received(self, method: str, path: str) -> list[ReceivedRequest]:
        """Received requests for `method path`, in order."""
        return [r for r in self.requests if r.method == method.upper() and r.path == path]

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_address[1]

    @property
    def api_base(self) -> str:
        """What to pass as `EasyPostClient(api_base=...)`."""
        return f"http://{self.host}:{self.port}/v2"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> ReplayServer:
        handler = _make_handler(self)
        server = ThreadingHTTPServer((self.host, 0), handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- matching -------------------------------------------------------------------------

    def _answer(self, request: ReceivedRequest) -> tuple[int, str, str, float]:
        """(status, content type, body, delay) for a received request."""
        with self._lock:
            self.requests.append(request)
            for injection in self._injections:
                if (
                    injection.remaining > 0
                    and injection.method == request.method
                    and injection.path == request.path
                ):
                    injection.remaining -= 1
                    request.matched = "injected"
                    return injection.status, "application/json", injection.body, injection.delay
            candidates = [
                i
                for i in self.interactions
                if i.method == request.method
                and i.path == request.path
                and i.query == request.query
            ]
            unused = [i for i in candidates if not i.used]
            chosen: Interaction | None = None
            if unused:
                received_json = _parse_body(request.raw_body.decode("utf-8", "replace"))
                exact = [i for i in unused if i.body is not None and i.body == received_json]
                chosen = exact[0] if exact else unused[0]
                chosen.used = True
            elif candidates and request.method == "GET":
                chosen = candidates[-1]
            elif request.method == "GET" and request.path in self._served_shipments:
                latest = self._served_shipments[request.path]
                request.matched = f"{latest.source} (shipment as last served)"
                return 200, latest.content_type, latest.response_body, 0.0
            if chosen is None:
                error = {
                    "error": {
                        "code": "REPLAY.NO_MATCH",
                        "message": f"no recording for {request.method} {request.path}",
                        "errors": [],
                    }
                }
                return 404, "application/json", json.dumps(error), 0.0
            request.matched = chosen.source
            self._remember_shipment(chosen)
            return chosen.status, chosen.content_type, chosen.response_body, 0.0

    def _remember_shipment(self, served: Interaction) -> None:
        """Note a successfully served Shipment, so a later retrieve can return its state."""
        if not 200 <= served.status < 300:
            return
        try:
            body = served.json()
        except ValueError:
            return
        if isinstance(body, dict) and body.get("object") == "Shipment" and body.get("id"):
            self._served_shipments[f"/v2/shipments/{body['id']}"] = served


def _make_handler(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "EasyPostReplay/1.0"

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = ReceivedRequest(
                method=self.command,
                path=url.path,
                query=parse_qs(url.query),
                headers={k: v for k, v in self.headers.items()},
                raw_body=raw,
            )
            status, content_type, body, delay = replay._answer(request)
            if delay and replay._stopping.wait(delay):
                return
            payload = body.encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nothing to deliver

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@contextmanager
def replay_server(*cassettes: str | Path) -> Iterator[ReplayServer]:
    """Context manager form: a started server with `cassettes` loaded."""
    server = ReplayServer(cassettes)
    server.start()
    try:
        yield server
    finally:
        server.stop()
