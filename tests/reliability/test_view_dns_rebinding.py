"""`view --serve` as a user runs it answers only requests addressed to the loopback by name
(issue 13, part 6): a page on another site that rebinds its DNS name to 127.0.0.1 sends
its own host name and is refused, so it cannot read local paths and logs."""

from __future__ import annotations

import http.client

import pytest
from processes import CliProcess
from waiting import FAILSAFE_SECONDS

pytestmark = pytest.mark.slow


def status_for(address: tuple[str, int], host: str) -> int:
    connection = http.client.HTTPConnection(*address, timeout=FAILSAFE_SECONDS)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_only_loopback_host_names_are_answered(make_config) -> None:
    config = make_config()
    with CliProcess(config.path, "view", "--serve", "--port", "0", ready="serving") as view:
        port = view.address[1]
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
            assert status_for(view.address, host) == 200, host
        for host in ("rebind.attacker.example", f"rebind.attacker.example:{port}"):
            assert status_for(view.address, host) == 403, host
    assert view.process.returncode == 0, view.log()
