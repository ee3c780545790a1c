"""SageMaker's real-time inference contract over HTTP, for `serve`.

  GET  /ping                  200 once the model is loaded (it is loaded before binding)
  POST /invocations           Content-Type text/csv or application/json, Accept */*,
                              text/csv or application/json; the model's own handler answers
  GET  /execution-parameters  what batch transform would ask (concurrency, payload limit)

Errors are JSON {"error": "...", "status": N}: 400 malformed payload (the handler's
ValueError, its message included; a JSON body nested too deeply to decode) or malformed
HTTP, 404 unknown path, 405 another method on a known path (with Allow), 406 unsupported
Accept, 408 request not complete within the deadline, 411 no Content-Length (or chunked),
413 body over the limit (refused before it is read), 415 unsupported Content-Type, 431
headers too large, 503 too many open connections, 500 anything else (generic message; the
traceback goes to the log, never to the client).

/ping and /execution-parameters are answered on the front's event loop, so they answer even
while every worker is busy; invocations run on `threads` workers (pipelines.serve.http_front
says how slow clients are kept away from them).
"""

from __future__ import annotations

import json
import logging
import math
from http import HTTPStatus
from typing import Any

from pipelines.serve.capture import CaptureWriter
from pipelines.serve.http_front import BoundedHTTPServer, Request, Response
from pipelines.serve.model import ServedModel

CONTENT_TYPES = ("text/csv", "application/json")
ACCEPT_ANY = ("", "*/*", "application/*", "text/*")
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
DEFAULT_MAX_CONNECTIONS = 256
# The route, and the one method it answers.
ROUTES = {"/ping": "GET", "/execution-parameters": "GET", "/invocations": "POST"}
logger = logging.getLogger("pipelines.serve")


class InferenceServer(BoundedHTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        model: ServedModel,
        *,
        max_payload_bytes: int,
        threads: int,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_SECONDS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.model = model
        self.max_payload_bytes = max_payload_bytes
        self.capture = capture
        super().__init__(
            address,
            InferenceApp(model, max_payload_bytes, threads, capture),
            threads=threads,
            request_timeout=request_timeout,
            max_connections=max_connections,
            max_body_bytes=max_payload_bytes,
        )


class InferenceApp:
    def __init__(
        self,
        model: ServedModel,
        max_payload_bytes: int,
        threads: int,
        capture: CaptureWriter | None = None,
    ) -> None:
        self.model = model
        self.max_payload_bytes = max_payload_bytes
        self.threads = threads
        self.capture = capture

    def on_headers(self, request: Request) -> Response | None:
        path = request.path
        method = ROUTES.get(path)
        if method is None:
            return self.error(HTTPStatus.NOT_FOUND, _unknown_path(path))
        if request.method != method:
            return self.error(HTTPStatus.METHOD_NOT_ALLOWED, f"use {method} {path}", allow=method)
        if path == "/ping":
            return self._send(HTTPStatus.OK, b"", "text/plain")
        if path == "/execution-parameters":
            return self._json(
                HTTPStatus.OK,
                {
                    "MaxConcurrentTransforms": self.threads,
                    "BatchStrategy": "MULTI_RECORD",
                    "MaxPayloadInMB": math.ceil(self.max_payload_bytes / 2**20),
                },
            )
        return self._refusal(request)

    def handle(self, request: Request) -> Response:
        model = self.model
        try:
            answer, content_type = model.invoke(
                request.body, request.header("Content-Type"), request.header("Accept")
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
            return self.error(status, str(exc))
        except Exception:
            logger.exception("POST /invocations failed (model version %s)", model.version)
            return self.error(
                HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; see the server log"
            )
        data = answer.encode("utf-8") if isinstance(answer, str) else bytes(answer)
        if self.capture is not None:
            # Requests the model answered, as data capture records them.
            self.capture.record(request.body, request.header("Content-Type"), data, content_type)
        return self._send(HTTPStatus.OK, data, content_type)

    def error(self, status: int, message: str, allow: str | None = None) -> Response:
        headers = {"Allow": allow} if allow else {}
        body = json.dumps({"error": message, "status": int(status)}).encode()
        return self._send(status, body, "application/json", headers)

    def _refusal(self, request: Request) -> Response | None:
        """The answer to POST /invocations whose headers already rule the body out (the front
        then closes the connection without reading it); None if the body is acceptable."""
        limit = self.max_payload_bytes
        if request.header("Transfer-Encoding"):
            return self.error(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported")
        raw_length = request.header("Content-Length")
        if raw_length is None:
            return self.error(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        length = int(raw_length)  # h11 has refused anything but one non-negative integer
        if length > limit:
            return self.error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"payload of {length} bytes exceeds the limit of {limit} bytes",
            )
        if _media_type(request.header("Content-Type")) not in CONTENT_TYPES:
            shown = request.header("Content-Type") or "none"
            return self.error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"unsupported Content-Type {shown!r}: send {' or '.join(CONTENT_TYPES)}",
            )
        accept = request.header("Accept")
        offered = [_media_type(part) for part in (accept or "").split(",")]
        if not any(m in ACCEPT_ANY or m in CONTENT_TYPES for m in offered):
            return self.error(
                HTTPStatus.NOT_ACCEPTABLE,
                f"cannot answer in {accept!r}: accept {' or '.join(CONTENT_TYPES)} or */*",
            )
        return None

    def _json(self, status: int, payload: dict[str, Any]) -> Response:
        return self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            status=int(status),
            body=data,
            content_type=content_type,
            headers={"X-Model-Version": str(self.model.version), **(headers or {})},
        )


def _unknown_path(path: str) -> str:
    return f"no such path {path!r}: use GET /ping or POST /invocations"


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()
