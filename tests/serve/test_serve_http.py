"""`serve`: SageMaker's inference contract over real HTTP, driven by the model's own handler."""

from __future__ import annotations

import http.client
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from model_helpers import RECORD, ROW
from waiting import FAILSAFE_SECONDS

from pipelines.cli import main as cli_main
from pipelines.serve.model import load

MAX_PAYLOAD = 64 * 1024  # conftest's server limit

ROWS = [
    ROW,
    "12.0,grocery,14,pos,0,900,0,2,3.5,25.0,0",
    "899.0,electronics,2,online,1,5,6,9,1200,30.0,1",
    "45.5,restaurant,20,pos,0,400,1,3,,50.0,0",
]


def request(
    server, method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(
        address.hostname, address.port, timeout=FAILSAFE_SECONDS
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def invoke(server, body: str | bytes, content_type: str, accept: str | None = None):
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    data = body.encode() if isinstance(body, str) else body
    return request(server, "POST", "/invocations", data, headers)


def error_of(body: bytes) -> str:
    return json.loads(body)["error"]


@pytest.fixture
def approved(register) -> dict:
    return register("Approved")


def test_ping_answers_once_the_model_is_loaded(approved, serve) -> None:
    server = serve()
    status, headers, body = request(server, "GET", "/ping")
    assert (status, body) == (200, b"")
    assert headers["X-Model-Version"] == "1"


def test_csv_in_csv_out_matches_the_handler(approved, serve, config) -> None:
    server = serve()
    direct, _ = load(config).invoke("\n".join(ROWS).encode(), "text/csv", "text/csv")

    status, headers, body = invoke(server, "\n".join(ROWS), "text/csv", "text/csv")

    assert status == 200 and headers["Content-Type"] == "text/csv"
    assert body.decode() == direct
    lines = body.decode().splitlines()
    assert len(lines) == len(ROWS)
    for line in lines:
        label, probability = line.split(",")
        assert label in ("0", "1") and 0.0 <= float(probability) <= 1.0


@pytest.mark.parametrize(
    "payload",
    [{"instances": [RECORD, RECORD]}, [RECORD, RECORD], RECORD],
    ids=["instances", "list", "one-object"],
)
def test_json_in_json_out(approved, serve, payload) -> None:
    server = serve()
    status, headers, body = invoke(server, json.dumps(payload), "application/json")
    assert status == 200 and headers["Content-Type"] == "application/json"
    predictions = json.loads(body)["predictions"]
    assert len(predictions) == (1 if payload is RECORD else 2)
    assert set(predictions[0]) == {"predicted_label", "probability"}


def test_csv_in_json_out_and_json_in_csv_out_agree(approved, serve) -> None:
    server = serve()
    _, _, as_json = invoke(server, ROW, "text/csv; charset=utf-8", "application/json")
    _, _, as_csv = invoke(server, json.dumps(RECORD), "application/json", "text/csv")
    (prediction,) = json.loads(as_json)["predictions"]
    label, probability = as_csv.decode().strip().split(",")
    assert int(label) == prediction["predicted_label"]
    assert float(probability) == pytest.approx(prediction["probability"])


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ('{"instances": [', "application/json", "not valid JSON"),
        ('{"instances": [{"amount": 1, "colour": "red"}]}', "application/json", "colour"),
        ("1,2,3", "text/csv", "row 1 has 3 values"),
        ("abc,jewelry,3,online,1,12,2,6,,40.0,1", "text/csv", "non-numeric value 'abc'"),
        ("", "text/csv", "empty request body"),
        (b"\xff\xfe\x00", "text/csv", "not UTF-8"),
    ],
    ids=["bad-json", "unknown-feature", "column-count", "non-numeric", "empty", "not-utf8"],
)
def test_malformed_payloads_are_400_with_the_reason(
    approved, serve, body, content_type, message
) -> None:
    server = serve()
    status, headers, answer = invoke(server, body, content_type)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert message in error_of(answer)


def test_unsupported_content_type_is_415_naming_the_supported_ones(approved, serve) -> None:
    server = serve()
    status, _, body = invoke(server, ROW, "text/plain")
    assert status == 415
    assert error_of(body) == (
        "unsupported Content-Type 'text/plain': send text/csv or application/json"
    )
    status, _, body = request(server, "POST", "/invocations", ROW.encode())
    assert status == 415 and "'none'" in error_of(body)


def test_unsupported_accept_is_406(approved, serve) -> None:
    server = serve()
    status, _, body = invoke(server, ROW, "text/csv", "application/xml")
    assert status == 406
    assert "application/xml" in error_of(body)


def test_missing_content_length_is_411(approved, serve) -> None:
    server = serve()
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(
        address.hostname, address.port, timeout=FAILSAFE_SECONDS
    )
    connection.putrequest("POST", "/invocations")
    connection.putheader("Content-Type", "text/csv")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 411
    assert "Content-Length is required" in error_of(response.read())
    connection.close()


def test_oversized_body_is_413_before_it_is_sent(approved, serve) -> None:
    server = serve()
    address = urlsplit(server.url)
    # Headers only: announce 1 GB and send none of it; the answer must come anyway.
    with socket.create_connection(
        (address.hostname, address.port), timeout=FAILSAFE_SECONDS
    ) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413
        assert response.getheader("Connection") == "close"
        assert "exceeds the limit of 65536 bytes" in error_of(response.read())


def test_a_client_that_asks_first_is_refused_before_sending(approved, serve) -> None:
    server = serve()
    address = urlsplit(server.url)
    with socket.create_connection(
        (address.hostname, address.port), timeout=FAILSAFE_SECONDS
    ) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Expect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413  # not 100 Continue


def test_a_client_that_asks_first_may_send_an_acceptable_body(approved, serve) -> None:
    server = serve()
    address = urlsplit(server.url)
    body = ROW.encode()
    with socket.create_connection(
        (address.hostname, address.port), timeout=FAILSAFE_SECONDS
    ) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Accept: text/csv\r\nExpect: 100-continue\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
        )
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200
        label, _ = response.read().decode().strip().split(",")
        assert label in ("0", "1")


def test_a_body_at_the_limit_is_read(approved, serve) -> None:
    server = serve()
    rows = (ROW + "\n") * (MAX_PAYLOAD // (len(ROW) + 1))
    status, _, body = invoke(server, rows, "text/csv", "text/csv")
    assert status == 200
    assert len(body.decode().splitlines()) == MAX_PAYLOAD // (len(ROW) + 1)


def test_unknown_paths_and_methods(approved, serve) -> None:
    server = serve()
    assert request(server, "GET", "/predict")[0] == 404
    assert request(server, "POST", "/predict", b"x", {"Content-Type": "text/csv"})[0] == 404
    status, headers, _ = request(server, "GET", "/invocations")
    assert (status, headers["Allow"]) == (405, "POST")
    status, _, body = request(server, "GET", "/execution-parameters")
    assert status == 200 and json.loads(body)["MaxPayloadInMB"] == 1


def test_concurrent_requests_all_get_their_own_answer(approved, serve, config) -> None:
    server = serve(threads=4)
    model = load(config)
    payloads = [ROWS[i % len(ROWS)] + "\n" + ROWS[(i + 1) % len(ROWS)] for i in range(24)]
    expected = [model.invoke(p.encode(), "text/csv", "text/csv")[0] for p in payloads]

    with ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(lambda p: invoke(server, p, "text/csv", "text/csv"), payloads))

    assert [status for status, _, _ in answers] == [200] * 24
    assert [body.decode() for _, _, body in answers] == expected


def test_the_newest_approved_version_is_served_not_a_newer_pending_one(register, serve) -> None:
    register("Approved")
    register("Approved")
    register("PendingManualApproval")
    server = serve()
    assert request(server, "GET", "/ping")[1]["X-Model-Version"] == "2"


def test_the_models_own_handler_answers_not_the_repositorys(register, serve) -> None:
    """Version 2's archive carries an edited code/inference.py: serving it shows the edit."""
    register("Approved")
    register(
        "Approved",
        handler_patch=lambda code: code.replace(
            'return json.dumps({"predictions": prediction}, allow_nan=False), JSON',
            'return json.dumps({"predictions": prediction, "handler": "v2"}), JSON',
        ),
    )
    server = serve()
    _, _, body = invoke(server, ROW, "text/csv")
    assert json.loads(body)["handler"] == "v2"
    older = serve(version=1)
    _, _, body = invoke(older, ROW, "text/csv")
    assert "handler" not in json.loads(body)


def test_an_explicit_unapproved_version_can_be_served(register, config) -> None:
    register("PendingManualApproval")
    model = load(config, 1)
    assert (model.version, model.approval_status) == (1, "PendingManualApproval")


class TestCli:
    def test_serve_without_an_approved_model_exits_2(self, config, register, capsys) -> None:
        register("PendingManualApproval")
        assert cli_main(["serve", "--config", str(config.path), "--port", "0"]) == 2
        err = capsys.readouterr().err
        assert "no Approved version of fraud-detection-models in the local registry" in err
        assert "registry approve N" in err

    def test_an_unknown_version_exits_2(self, config, approved, capsys) -> None:
        assert cli_main(["serve", "--config", str(config.path), "--model-version", "9"]) == 2
        assert "no local model package version 9" in capsys.readouterr().err

    def test_a_non_loopback_host_is_refused(self, config, approved, capsys) -> None:
        assert cli_main(["serve", "--config", str(config.path), "--host", "0.0.0.0"]) == 2
        assert "--allow-remote" in capsys.readouterr().err

    def test_serve_is_local_and_deploy_is_for_sagemaker(self, config, capsys) -> None:
        assert cli_main(["serve", "--config", str(config.path), "--target", "sagemaker"]) == 2
        assert "deploy --target sagemaker" in capsys.readouterr().err
        assert cli_main(["deploy", "--config", str(config.path)]) == 2
        assert "`serve` runs the approved model" in capsys.readouterr().err
