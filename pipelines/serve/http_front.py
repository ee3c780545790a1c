"""The HTTP/1.1 front both local servers (`serve`, `view --serve`) answer through.

In SageMaker's scikit-learn serving container nginx faces the clients and gunicorn workers
run the model: nginx reads each request in full, under its own timeouts and size limits,
before a worker sees it, so a slow or idle client never holds a worker (gunicorn's
"Deploying Gunicorn" page: without a buffering proxy it is easily denied service by slow
clients). nginx cannot be installed with pip, so this module plays its part in-process:

* one asyncio event loop holds every connection; a connection costs a coroutine, not a
  thread, up to `max_connections` (more are answered 503 and closed);
* a request (request line, headers and body) must arrive in full within `request_timeout`
  seconds of the server starting to wait for it, whatever the client's pace: a client that
  trickles header lines is answered 408 and closed at the deadline, an idle keep-alive
  connection is closed silently; headers are capped at 16 KiB (431);
* the application sees the headers first, on the loop (`on_headers`): it can answer at once
  without reading the body (a refusal, which closes the connection, or a cheap route such
  as /ping), or let the body be read (after `100 Continue` if the client asked);
* only complete requests reach `handle`, on a pool of `threads` worker threads.

HTTP parsing is h11's (python-hyper's sans-I/O HTTP/1.1 state machine).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Protocol

import h11

MAX_HEADER_BYTES = 16 * 1024
READ_CHUNK_BYTES = 64 * 1024
LINGER_SECONDS = 2.0
logger = logging.getLogger("pipelines.http")


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    # Lower-case names; a repeated header's values joined with ", " (RFC 9110, 5.3).
    headers: dict[str, str]
    client: str
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


class Application(Protocol):
    def on_headers(self, request: Request) -> Response | None:
        """On the event loop, headers in and body unread: an answer now, or None to read the
        body and call `handle`. Must be quick: every connection waits while it runs."""

    def handle(self, request: Request) -> Response:
        """On a worker thread, with the whole request."""

    def error(self, status: int, message: str) -> Response:
        """This application's wording of an error the front answers itself."""


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BoundedHTTPServer:
    """Binds on construction (so a busy port fails before anything is printed); serves from
    `serve_forever()` until `shutdown()` (another thread) or Ctrl-C."""

    def __init__(
        self,
        address: tuple[str, int],
        app: Application,
        *,
        threads: int,
        request_timeout: float,
        max_connections: int,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.threads = threads
        self.request_timeout = request_timeout
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._socket = socket.create_server(address, family=family, backlog=128)
        self.server_address = self._socket.getsockname()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http-worker")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._stopped = threading.Event()
        self._connections: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    def serve_forever(self) -> None:
        self._stopped.clear()
        try:
            asyncio.run(self._main())
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not self._stopped.is_set():
            loop.call_soon_threadsafe(stop.set)
            self._stopped.wait()

    def server_close(self) -> None:
        self._socket.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self._socket)
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > self.max_connections:
                message = f"more than {self.max_connections} open connections: retry later"
                await self._send(conn, writer, replace(self.app.error(503, message), close=True))
            else:
                while await self._exchange(conn, reader, writer, client):
                    conn.start_next_cycle()
            await self._linger(reader, writer)
        except (OSError, h11.LocalProtocolError):
            pass  # the client went away (reset, not connected), or stopped reading its answer
        except asyncio.CancelledError:
            # Shutting down (shutdown() or Ctrl-C): the connection just closes. Ending the
            # task normally also spares Python 3.11's stream callback, which logs a
            # traceback for a connection task that ends cancelled.
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _exchange(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
    ) -> bool:
        """One request and its answer; whether the connection may carry another."""
        try:
            async with asyncio.timeout(self.request_timeout):
                received = await self._receive(conn, reader, writer, client)
        except TimeoutError:
            if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                return False  # idle between requests: close without a word
            message = f"the request was not complete within {self.request_timeout:g} s"
            response = self.app.error(408, message)
            await self._send(conn, writer, replace(response, close=True))
            return False
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                status = exc.error_status_hint
                message = (
                    f"request headers exceed {MAX_HEADER_BYTES} bytes"
                    if status == 431
                    else f"malformed request: {exc}"
                )
                await self._send(conn, writer, replace(self.app.error(status, message), close=True))
            return False
        except _Refused as exc:
            await self._send(
                conn, writer, replace(self.app.error(exc.status, str(exc)), close=True)
            )
            return False
        if received is None:
            return False
        request, response = received
        if response is None:
            try:
                response = await asyncio.get_running_loop().run_in_executor(
                    self._pool, self.app.handle, request
                )
            except Exception:
                logger.exception("%s %s failed", request.method, request.path)
                response = self.app.error(500, "internal error; see the server log")
        logger.info('%s "%s %s" %d', client, request.method, request.target, response.status)
        await self._send(conn, writer, response, head_only=request.method == "HEAD")
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _receive(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
    ) -> tuple[Request, Response | None] | None:
        """The next request, with the application's early answer if it gave one; None if the
        client closed the connection before starting one."""
        request: Request | None = None
        early: Response | None = None
        chunks: list[bytes] = []
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if request is not None and early is not None:
                    # Answered without reading the body: the rest of it is never read.
                    return request, replace(early, close=True)
                conn.receive_data(await reader.read(READ_CHUNK_BYTES))
            elif isinstance(event, h11.Request):
                # h11 bounds headers that arrive in pieces; these came in one read.
                if _head_size(event) > MAX_HEADER_BYTES:
                    raise _Refused(431, f"request headers exceed {MAX_HEADER_BYTES} bytes")
                request = _request(event, client)
                early = self.app.on_headers(request)
                if early is None and conn.they_are_waiting_for_100_continue:
                    continue_ = h11.InformationalResponse(
                        status_code=100, headers=[], reason=b"Continue"
                    )
                    await self._write(writer, conn.send(continue_))
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if early is None:
                    if size > self.max_body_bytes:
                        raise _Refused(
                            413, f"body exceeds the limit of {self.max_body_bytes} bytes"
                        )
                    chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                return replace(request, body=b"".join(chunks)), early
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        response: Response,
        head_only: bool = False,
    ) -> None:
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *response.headers.items(),
        ]
        if response.close:
            headers.append(("Connection", "close"))
        reason = HTTPStatus(response.status).phrase.encode()
        if conn.our_state is h11.SEND_RESPONSE or conn.their_state is h11.ERROR:
            data = conn.send(
                h11.Response(status_code=response.status, headers=headers, reason=reason)
            )
            if response.body and not head_only:
                data += conn.send(h11.Data(data=response.body))
            data += conn.send(h11.EndOfMessage())
        else:
            # No request to answer yet (too many connections, or headers still arriving at
            # the deadline): h11 only answers requests, so the bytes are written here.
            lines = [f"HTTP/1.1 {response.status} ".encode() + reason]
            lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
            data = b"\r\n".join(lines) + b"\r\n\r\n" + response.body
        await self._write(writer, data)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Half-close, then discard what the client still sends for a moment before closing.

        Closing a socket with unread input makes the kernel reset the connection, and a reset
        can destroy the answer (a 408, a 413) before the client has read it; nginx lingers
        for the same reason (`lingering_close`).
        """
        if writer.can_write_eof():
            writer.write_eof()
        try:
            async with asyncio.timeout(LINGER_SECONDS):
                while await reader.read(READ_CHUNK_BYTES):
                    pass
        except TimeoutError:
            pass

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        # A client that does not read its answer is cut off like one that does not send.
        async with asyncio.timeout(self.request_timeout):
            await writer.drain()


def _head_size(event: h11.Request) -> int:
    return (
        len(event.method)
        + len(event.target)
        + sum(len(name) + len(value) + 4 for name, value in event.headers)
    )


def _request(event: h11.Request, client: str) -> Request:
    headers: dict[str, str] = {}
    for name, value in event.headers:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return Request(
        method=event.method.decode("ascii", "replace"),
        target=event.target.decode("latin-1"),
        headers=headers,
        client=client,
    )
