"""`view --serve` answers loopback host names only (DNS rebinding), GET only, and closes
idle and slow connections. Real sockets against the server in a thread."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from http_clients import SlowClients, exchange
from waiting import FAILSAFE_SECONDS

from pipelines.config import ProjectConfig
from pipelines.view.server import ViewServer


@pytest.fixture
def start_view(empty_project: ProjectConfig) -> Iterator[Callable[..., ViewServer]]:
    servers: list[tuple[ViewServer, threading.Thread]] = []

    def start(**limits: float) -> ViewServer:
        server = ViewServer(empty_project, 0, **limits)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return server

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(FAILSAFE_SECONDS)


def get(server: ViewServer, host: str | None, method: str = "GET") -> tuple[int, dict, str]:
    connection = http.client.HTTPConnection(*server.server_address, timeout=FAILSAFE_SECONDS)
    try:
        connection.putrequest(method, "/", skip_host=True)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:8765", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:8765"]
)
def test_loopback_host_names_are_served(start_view, host: str) -> None:
    status, headers, page = get(start_view(), host)
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<!DOCTYPE html>" in page


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:8765", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1"],
)
def test_other_host_names_are_403(start_view, host: str) -> None:
    status, _, page = get(start_view(), host)
    assert status == 403
    assert "is not this machine&#39;s loopback" in page


def test_http10_without_host_is_refused(start_view) -> None:
    # HTTP/1.1 requires Host (h11 answers 400 without it); HTTP/1.0 may omit it.
    server = start_view()
    answer = exchange(server.server_address, b"GET / HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 403 ")


def test_other_methods_are_405(start_view) -> None:
    status, headers, _ = get(start_view(), "localhost", method="DELETE")
    assert (status, headers["Allow"]) == (405, "GET")


def test_idle_and_trickling_connections_are_cut_off(start_view) -> None:
    server = start_view(request_timeout=0.5)
    with socket.create_connection(server.server_address, timeout=FAILSAFE_SECONDS) as idle:
        assert idle.recv(1024) == b""  # nothing sent: closed without a word
    opening = b"GET / HTTP/1.1\r\nHost: localhost\r\n"
    with SlowClients(server.server_address, 4, opening) as clients:
        clients.wait_all_closed()
        assert clients.status_lines() == ["HTTP/1.1 408 Request Timeout"] * 4
    assert get(server, "localhost")[0] == 200
