"""`serve` against clients that break the rules, over real sockets: other methods, deep JSON,
malformed HTTP, slow and idle connections, too many connections."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest
from http_clients import SlowClients, exchange
from model_helpers import ROW
from waiting import FAILSAFE_SECONDS, wait_until

INVOCATION_HEAD = b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"


@pytest.fixture
def approved(register) -> dict:
    return register("Approved")


def address_of(server) -> tuple[str, int]:
    url = urlsplit(server.url)
    return url.hostname, url.port


def ask(server, method: str, path: str, body: bytes | None = None, headers=None):
    connection = http.client.HTTPConnection(*address_of(server), timeout=FAILSAFE_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_the_documented_json_405(approved, serve, method) -> None:
    server = serve()
    status, headers, body = ask(server, method, "/invocations", b"x", {"Content-Type": "text/csv"})
    assert (status, headers["Allow"], headers["Content-Type"]) == (405, "POST", "application/json")
    assert json.loads(body) == {"error": "use POST /invocations", "status": 405}
    status, headers, body = ask(server, method, "/ping")
    assert (status, headers["Allow"]) == (405, "GET")
    status, _, body = ask(server, method, "/nowhere")
    assert status == 404 and json.loads(body)["status"] == 404


def test_head_is_a_405_without_a_body(approved, serve) -> None:
    status, headers, body = ask(serve(), "HEAD", "/ping")
    assert (status, headers["Allow"], body) == (405, "GET", b"")


def test_deeply_nested_json_is_400_and_the_server_carries_on(approved, serve) -> None:
    server = serve()
    depth = 20_000  # 40 KB, under the 64 KiB limit; far past Python's recursion limit
    body = b"[" * depth + b"]" * depth
    status, _, answer = ask(
        server, "POST", "/invocations", body, {"Content-Type": "application/json"}
    )
    assert status == 400
    assert json.loads(answer)["error"] == (
        "the payload is nested too deeply to decode: send flat records"
    )
    status, _, _ = ask(server, "POST", "/invocations", ROW.encode(), {"Content-Type": "text/csv"})
    assert status == 200


def test_malformed_http_is_a_json_400_and_oversized_headers_431(approved, serve) -> None:
    server = serve()
    answer = exchange(address_of(server), b"NONSENSE\r\n\r\n")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in head
    assert json.loads(body)["error"].startswith("malformed request")

    big = INVOCATION_HEAD + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"
    answer = exchange(address_of(server), big)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b"request headers exceed 16384 bytes" in answer


def test_requests_trickled_past_the_deadline_are_408_while_ping_answers(approved, serve) -> None:
    server = serve(request_timeout=1.0)
    address = address_of(server)
    # Headers that never end, and a body that never ends, both dripped every 0.2 s: a
    # per-read timeout would wait forever; the deadline covers the whole request.
    with (
        SlowClients(address, 2, INVOCATION_HEAD) as headers,
        SlowClients(
            address, 1, INVOCATION_HEAD + b"Content-Length: 1000\r\n\r\n", drip=b"1"
        ) as body,
    ):
        wait_until(lambda: server.open_connections >= 3, "the server holds the slow clients")
        assert ask(server, "GET", "/ping")[0] == 200
        for clients in (headers, body):
            clients.wait_all_closed()
            assert clients.status_lines() == ["HTTP/1.1 408 Request Timeout"] * len(clients.sockets)
            for i, answered in clients.answered_at.items():
                assert answered - clients.connecting_at[i] >= 1.0
    error = bytes(body.answers[0]).split(b"\r\n\r\n", 1)[1]
    assert json.loads(error) == {
        "error": "the request was not complete within 1 s",
        "status": 408,
    }


def test_an_idle_keep_alive_connection_is_closed_after_the_deadline(approved, serve) -> None:
    server = serve(request_timeout=0.5)
    with socket.create_connection(address_of(server), timeout=FAILSAFE_SECONDS) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200 and response.getheader("Connection") is None
        response.read()
        # Kept alive, then nothing is sent: the server closes without a word.
        assert sock.recv(1024) == b""


def test_connections_over_the_limit_are_503(approved, serve) -> None:
    server = serve(max_connections=2)
    address = address_of(server)
    held = [socket.create_connection(address, timeout=FAILSAFE_SECONDS) for _ in range(2)]
    try:
        wait_until(lambda: server.open_connections == 2, "the server holds two connections")
        answer = exchange(address, b"GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 503 ")
        assert json.loads(body)["error"] == "more than 2 open connections: retry later"
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: server.open_connections == 0, "the held connections are let go")
    assert ask(server, "GET", "/ping")[0] == 200
