"""`view --serve`: the pages over HTTP on 127.0.0.1, rebuilt on every request.

Routes: `/` lists the executions, `/executions/<id>.html` is one execution's page,
`/definition.html` the structure alone; anything else is 404. Loopback only: the pages show
local paths and logs.
"""

from __future__ import annotations

import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pipelines.config import ProjectConfig
from pipelines.view import html, model

HOST = "127.0.0.1"
_EXECUTION_PATH = re.compile(r"^/executions/([A-Za-z0-9_-]+)\.html$")
_LINKS = {"all executions": "/", "pipeline definition": "/definition.html"}


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: ProjectConfig, port: int = 0) -> None:
        self.config = config
        # Page building reads one SQLite file and the store; one request at a time is
        # plenty for a local viewer and keeps the state connections simple.
        self.build_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.build_lock:
            status, body = self._page(path)
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _page(self, path: str) -> tuple[int, str]:
        config = self.server.config
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

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: the command prints the URL; per-request lines would bury it.
        pass


def _not_found(message: str) -> str:
    from html import escape

    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" '
        f'href="data:,"><title>Not found</title></head><body><h1>Not found</h1><p>{escape(message)}'
        '</p><p><a href="/">all executions</a></p></body></html>'
    )
