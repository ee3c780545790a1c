"""An HTTP server with SageMaker's real-time inference contract, on the standard library.

  GET  /ping                  200 once the model is loaded (it is loaded before binding)
  POST /invocations           Content-Type text/csv or application/json, Accept */*,
                              text/csv or application/json; the model's own handler answers
  GET  /execution-parameters  what batch transform would ask (concurrency, payload limit)

Errors are JSON {"error": "...", "status": N}: 400 malformed payload (the handler's
ValueError, its message included), 404 unknown path, 405 wrong method, 406 unsupported
Accept, 411 no Content-Length, 413 body over the limit (refused before it is read), 415
unsupported Content-Type, 500 anything else (generic message; the traceback goes to the
log, never to the client). Requests run on a bounded thread pool.
"""

from __future__ import annotations

import json
import logging
import math
import socket
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from pipelines.serve.model import ServedModel

CONTENT_TYPES = ("text/csv", "application/json")
ACCEPT_ANY = ("", "*/*", "application/*", "text/*")
SOCKET_TIMEOUT_SECONDS = 30.0
logger = logging.getLogger("pipelines.serve")


class InferenceServer(HTTPServer):
    """HTTPServer whose requests run on a fixed-size pool (ThreadingHTTPServer starts one
    unbounded thread per connection)."""

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        model: ServedModel,
        *,
        max_payload_bytes: int,
        threads: int,
    ) -> None:
        self.model = model
        self.max_payload_bytes = max_payload_bytes
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="serve")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, InvocationHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        self._pool.submit(self._process, request, client_address)

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("connection from %s failed", client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown(wait=True, cancel_futures=True)


class InvocationHandler(BaseHTTPRequestHandler):
    server: InferenceServer
    protocol_version = "HTTP/1.1"
    # A client that stops sending mid-request cannot hold a worker forever.
    timeout = SOCKET_TIMEOUT_SECONDS
    server_version = "pipelines-serve"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/ping":
            self._send(HTTPStatus.OK, b"", "text/plain")
        elif path == "/execution-parameters":
            self._json(
                HTTPStatus.OK,
                {
                    "MaxConcurrentTransforms": self.server.threads,
                    "BatchStrategy": "MULTI_RECORD",
                    "MaxPayloadInMB": math.ceil(self.server.max_payload_bytes / 2**20),
                },
            )
        elif path == "/invocations":
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST /invocations", allow="POST")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no such path {path!r}: use /ping or /invocations")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != "/invocations":
            self.close_connection = True
            if path in ("/ping", "/execution-parameters"):
                self._error(HTTPStatus.METHOD_NOT_ALLOWED, f"use GET {path}", allow="GET")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such path {path!r}: POST /invocations")
            return
        body = self._read_body()
        if body is None:
            return
        model = self.server.model
        try:
            answer, content_type = model.invoke(
                body, self.headers.get("Content-Type"), self.headers.get("Accept")
            )
        except ValueError as exc:
            # The handler raises ValueErrors (RequestError, UnsupportedContentTypeError) for
            # what the client sent; their messages are written for the client.
            unsupported = getattr(model.handler, "UnsupportedContentTypeError", ())
            status = (
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE
                if unsupported and isinstance(exc, unsupported)
                else HTTPStatus.BAD_REQUEST
            )
            self._error(status, str(exc))
            return
        except Exception:
            logger.exception("POST /invocations failed (model version %s)", model.version)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log")
            return
        data = answer.encode("utf-8") if isinstance(answer, str) else bytes(answer)
        self._send(HTTPStatus.OK, data, content_type)

    def handle_expect_100(self) -> bool:
        # Clients that ask first (curl does for large bodies) hear about 411/413/415/406
        # before they send the body, instead of after.
        invocation = self.command == "POST" and self.path.split("?", 1)[0] == "/invocations"
        if invocation and self._check_headers() is None:
            return False
        return super().handle_expect_100()

    def _check_headers(self) -> int | None:
        """The body's length if the headers allow reading it; else None, error sent."""
        limit = self.server.max_payload_bytes
        # Every refusal leaves the body unread: close rather than drain the connection.
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return self._refuse(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        try:
            length = int(raw_length)
            if length < 0:
                raise ValueError
        except ValueError:
            return self._refuse(HTTPStatus.BAD_REQUEST, f"invalid Content-Length {raw_length!r}")
        if length > limit:
            return self._refuse(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"payload of {length} bytes exceeds the limit of {limit} bytes",
            )
        if _media_type(self.headers.get("Content-Type")) not in CONTENT_TYPES:
            shown = self.headers.get("Content-Type") or "none"
            return self._refuse(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"unsupported Content-Type {shown!r}: send {' or '.join(CONTENT_TYPES)}",
            )
        accept = self.headers.get("Accept")
        offered = [_media_type(part) for part in (accept or "").split(",")]
        if not any(m in ACCEPT_ANY or m in CONTENT_TYPES for m in offered):
            return self._refuse(
                HTTPStatus.NOT_ACCEPTABLE,
                f"cannot answer in {accept!r}: accept {' or '.join(CONTENT_TYPES)} or */*",
            )
        return length

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        self.close_connection = True
        self._error(status, message)
        return None

    def _read_body(self) -> bytes | None:
        """The request body, or None after answering the error that prevents reading it."""
        length = self._check_headers()
        if length is None:
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self._refuse(HTTPStatus.BAD_REQUEST, f"body ended after {len(body)} of {length} bytes")
            return None
        return body

    def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _error(self, status: HTTPStatus, message: str, allow: str | None = None) -> None:
        headers = {"Allow": allow} if allow else {}
        self._send(
            status,
            json.dumps({"error": message, "status": int(status)}).encode(),
            "application/json",
            headers,
        )

    def _send(
        self,
        status: HTTPStatus,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Model-Version", str(self.server.model.version))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()
