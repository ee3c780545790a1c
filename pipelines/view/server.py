"""`view --serve`: the pages over HTTP on 127.0.0.1, rebuilt on every request.

Routes: `/` lists the executions (`?q=` and `?status=` preset its filters),
`/executions/<id>.html` is one execution's page, `/executions/<id>/status.json` what that
page polls while the execution runs, `/compare.html?executions=<id>,<id>...` two or more
executions side by side, `/definition.html` the structure alone; anything else is 404,
another method than GET 405.
Loopback only, and for loopback names only: the pages show local paths and logs, so a
request whose Host is not localhost, 127.0.0.1 or [::1] (with any port) is refused with 403,
which stops a DNS-rebinding page in the user's browser from reading them. Requests go
through the same bounded front as `serve` (pipelines.serve.http_front): a request must be
complete within REQUEST_TIMEOUT_SECONDS, idle connections are closed after it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import replace
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from pipelines.config import ProjectConfig
from pipelines.serve.http_front import BoundedHTTPServer, Request, Response
from pipelines.view import model, render
from pipelines.view.compare import MIN_EXECUTIONS, compare

HOST = "127.0.0.1"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_CONNECTIONS = 64
_HOST_HEADER = re.compile(r"^(?P<name>\[[^\]]*\]|[^:]*)(?::(?P<port>[0-9]{1,5}))?$")
_EXECUTION_PATH = re.compile(r"^/executions/([A-Za-z0-9_-]+)\.html$")
_STATUS_PATH = re.compile(r"^/executions/([A-Za-z0-9_-]+)/status\.json$")
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_LINKS = {
    "all executions": "/",
    "pipeline definition": "/definition.html",
    "monitoring": "/monitoring.html",
}
# A comparison builds one page model per execution: bounded work per request.
MAX_COMPARED = 12


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
            return self._answer(request.path, parse_qs(urlsplit(request.target).query))

    def error(self, status: int, message: str) -> Response:
        return _html(status, render.render_message(HTTPStatus(status).phrase, message))

    def _answer(self, path: str, query: dict[str, list[str]]) -> Response:
        config = self.config
        if path in ("/", "/index.html"):
            return _html(
                HTTPStatus.OK,
                render.render_index(
                    model.list_executions(config),
                    config.pipeline.name,
                    config.pipeline.metric,
                    {key: values[-1] for key, values in query.items() if key in ("q", "status")},
                ),
            )
        if path == "/definition.html":
            return _html(
                HTTPStatus.OK, render.render_page(model.collect_definition(config), _LINKS)
            )
        if path == "/compare.html":
            return self._compare(query)
        if path == "/monitoring.html":
            # Deferred: the drift monitor and its retrain rules, behind this one page (13
            # modules, ~21 ms of CPU), would delay `view serve`'s start.
            from pipelines.view.monitoring import collect_monitoring

            return _html(
                HTTPStatus.OK, render.render_monitoring(collect_monitoring(config), _LINKS)
            )
        match = _STATUS_PATH.match(path)
        if match:
            try:
                progress = model.execution_progress(config, match.group(1))
            except LookupError as exc:
                return _json(HTTPStatus.NOT_FOUND, {"error": str(exc.args[0])})
            return _json(HTTPStatus.OK, progress)
        match = _EXECUTION_PATH.match(path)
        if match:
            try:
                document = model.collect_execution(config, match.group(1))
            except LookupError as exc:
                return self.error(HTTPStatus.NOT_FOUND, str(exc.args[0]))
            if document["execution"] is not None:
                ident = document["execution"]["id"]
                return _html(
                    HTTPStatus.OK,
                    render.render_page(
                        document,
                        _LINKS,
                        live_url=f"/executions/{ident}/status.json",
                        page_url=f"/executions/{ident}.html",
                    ),
                )
        return self.error(HTTPStatus.NOT_FOUND, f"nothing at {path}")

    def _compare(self, query: dict[str, list[str]]) -> Response:
        idents = list(
            dict.fromkeys(
                ident.strip()
                for value in query.get("executions", [])
                for ident in value.split(",")
                if ident.strip()
            )
        )
        if not MIN_EXECUTIONS <= len(idents) <= MAX_COMPARED:
            return self.error(
                HTTPStatus.BAD_REQUEST,
                f"compare needs {MIN_EXECUTIONS} to {MAX_COMPARED} executions "
                f"(/compare.html?executions=ID,ID...), got {len(idents)}",
            )
        bad = next((i for i in idents if not _EXECUTION_ID.match(i)), None)
        if bad is not None:
            return self.error(HTTPStatus.BAD_REQUEST, f"{bad!r} is not an execution id")
        documents = []
        for ident in idents:
            try:
                document = model.collect_execution(self.config, ident)
            except LookupError as exc:
                return self.error(HTTPStatus.NOT_FOUND, str(exc.args[0]))
            documents.append(document)
        if len({d["execution"]["id"] for d in documents}) < MIN_EXECUTIONS:
            return self.error(HTTPStatus.BAD_REQUEST, "those name the same execution twice")
        return _html(
            HTTPStatus.OK,
            render.render_compare(compare(documents, "/executions/{id}.html"), _LINKS),
        )


def _html(status: int, body: str) -> Response:
    return Response(
        status=int(status),
        body=body.encode("utf-8"),
        content_type="text/html; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _json(status: int, payload: dict) -> Response:
    return Response(
        status=int(status),
        body=json.dumps(payload).encode("utf-8"),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
