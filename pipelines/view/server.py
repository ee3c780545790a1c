"""`view --serve`: the pages over HTTP on 127.0.0.1, rebuilt on every request.

Routes: `/` lists the executions, `/executions/<id>.html` is one execution's page,
`/definition.html` the structure alone; anything else is 404, another method than GET 405.
Loopback only, and for loopback names only: the pages show local paths and logs, so a
request whose Host is not localhost, 127.0.0.1 or [::1] (with any port) is refused with 403,
which stops a DNS-rebinding page in the user's browser from reading them. Requests go
through the same bounded front as `serve` (pipelines.serve.http_front): a request must be
complete within REQUEST_TIMEOUT_SECONDS, idle connections are closed after it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from html import escape
from http import HTTPStatus

from pipelines.config import ProjectConfig
from pipelines.serve.http_front import BoundedHTTPServer, Request, Response
from pipelines.view import html, model

HOST = "127.0.0.1"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 64
_HOST_HEADER = re.compile(r"^(?P<name>\[[^\]]*\]|[^:]*)(?::(?P<port>[0-9]{1,5}))?$")
_EXECUTION_PATH = re.compile(r"^/executions/([A-Za-z0-9_-]+)\.html$")
_LINKS = {"all executions": "/", "pipeline definition": "/definition.html"}


class ViewServer(BoundedHTTPServer):
    def __init__(
        self,
        config: ProjectConfig,
        port: int = 0,
        *,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.config = config
        super().__init__(
            (HOST, port),
            ViewApp(config),
            # Page building reads one SQLite file and the store under one lock: a second
            # worker only lets a request wait there instead of in the queue.
            threads=2,
            request_timeout=request_timeout,
            max_connections=max_connections,
            max_body_bytes=0,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


def is_loopback_host(value: str | None) -> bool:
    """Whether a Host header names this machine's loopback (any port, or none)."""
    match = _HOST_HEADER.match((value or "").strip())
    return bool(match) and match.group("name").lower() in LOOPBACK_NAMES


class ViewApp:
    def __init__(self, config: ProjectConfig) -> None:
        self.config = config
        self.build_lock = threading.Lock()

    def on_headers(self, request: Request) -> Response | None:
        if not is_loopback_host(request.header("Host")):
            shown = request.header("Host")
            return self.error(
                HTTPStatus.FORBIDDEN,
                f"Host {shown!r} is not this machine's loopback: open "
                f"http://localhost or http://{HOST} with the port `view --serve` printed",
            )
        if request.method != "GET":
            response = self.error(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method}: use GET")
            return replace(response, headers={**response.headers, "Allow": "GET"})
        if request.header("Content-Length") not in (None, "0") or request.header(
            "Transfer-Encoding"
        ):
            return self.error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "GET requests take no body")
        return None

    def handle(self, request: Request) -> Response:
        with self.build_lock:
            status, body = self._page(request.path)
        return _html(status, body)

    def error(self, status: int, message: str) -> Response:
        return _html(status, _message_page(HTTPStatus(status).phrase, message))

    def _page(self, path: str) -> tuple[int, str]:
        config = self.config
        if path in ("/", "/index.html"):
            return HTTPStatus.OK, html.render_index(
                model.list_executions(config), config.pipeline.name
            )
        if path == "/definition.html":
            return HTTPStatus.OK, html.render_page(model.collect_definition(config), _LINKS)
        match = _EXECUTION_PATH.match(path)
        if match:
            try:
                document = model.collect_execution(config, match.group(1))
            except LookupError as exc:
                return HTTPStatus.NOT_FOUND, _not_found(str(exc.args[0]))
            if document["execution"] is not None:
                return HTTPStatus.OK, html.render_page(document, _LINKS)
        return HTTPStatus.NOT_FOUND, _not_found(f"nothing at {path}")


def _html(status: int, body: str) -> Response:
    return Response(
        status=int(status),
        body=body.encode("utf-8"),
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _not_found(message: str) -> str:
    return _message_page("Not found", message)


def _message_page(title: str, message: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" '
        f'href="data:,"><title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>'
        f'<p>{escape(message)}</p><p><a href="/">all executions</a></p></body></html>'
    )
