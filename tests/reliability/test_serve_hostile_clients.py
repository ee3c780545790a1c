"""`serve` as a user runs it, against slow and hostile clients (issue 13, part 5).

Slowloris: 8 clients (as many as `serve_threads`) trickle header lines and never finish.
With a worker per connection they held every worker and /ping went unanswered; now a
connection costs no worker until its request is complete, and the request deadline cuts
them off.
"""

from __future__ import annotations

import http.client
import json

import pytest
from http_clients import SlowClients
from model_helpers import ROW
from processes import CliProcess
from serve.conftest import pack, register_archive
from waiting import FAILSAFE_SECONDS

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 8  # [deployment].serve_threads' default
INVOCATION_HEAD = b"POST /invocations HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\n"


@pytest.fixture
def serving(make_config, model_dir):
    """A project with an approved model; `serve` started on it with [deployment] values."""
    running: list[CliProcess] = []

    def start(**deployment) -> CliProcess:
        config = make_config(deployment=deployment)
        register_archive(config, pack(model_dir))
        running.append(CliProcess(config.path, "serve", "--port", "0", ready="listening"))
        return running[-1]

    yield start
    for process in running:
        assert process.stop() == 0, process.log()
        assert "Traceback" not in process.log(), process.log()[-3000:]


def ask(server: CliProcess, method: str, path: str, body: bytes | None = None, headers=None):
    connection = http.client.HTTPConnection(*server.address, timeout=FAILSAFE_SECONDS)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_ping_and_invocations_answer_while_8_clients_trickle_headers(serving) -> None:
    # A deadline far beyond the test: every slow client stays connected throughout.
    server = serving(serve_request_timeout_seconds=3600)
    with SlowClients(server.address, SLOW_CLIENTS, INVOCATION_HEAD) as slow:
        assert ask(server, "GET", "/ping")[0] == 200
        status, _, body = ask(server, "POST", "/invocations", ROW.encode(), {"Accept": "text/csv"})
        assert status == 415  # no Content-Type: refused by the headers alone
        status, _, body = ask(
            server, "POST", "/invocations", ROW.encode(), {"Content-Type": "text/csv"}
        )
        assert status == 200 and set(json.loads(body)) == {"predictions"}
        # Answered while all 8 were still connected, none of them answered or dropped.
        assert slow.untouched()


def test_slow_clients_are_cut_off_at_the_request_deadline(serving) -> None:
    server = serving(serve_request_timeout_seconds=2)
    with SlowClients(server.address, SLOW_CLIENTS, INVOCATION_HEAD) as slow:
        slow.wait_all_closed()
        assert slow.status_lines() == ["HTTP/1.1 408 Request Timeout"] * SLOW_CLIENTS
        for i, answered in slow.answered_at.items():
            assert answered - slow.connecting_at[i] >= 2
    assert ask(server, "GET", "/ping")[0] == 200


def test_hostile_payloads_get_the_documented_json_errors(serving) -> None:
    server = serving()
    for method in ("PUT", "DELETE", "PATCH"):
        status, headers, body = ask(server, method, "/invocations")
        assert (status, headers["Allow"]) == (405, "POST")
        assert json.loads(body) == {"error": "use POST /invocations", "status": 405}
    nested = b"[" * 50_000 + b"]" * 50_000
    status, _, body = ask(
        server, "POST", "/invocations", nested, {"Content-Type": "application/json"}
    )
    assert status == 400 and "nested too deeply" in json.loads(body)["error"]
