"""Clients that misbehave on purpose over real sockets, shared by the server tests.

`SlowClients` opens connections, sends the start of a request on each, then keeps dripping
a few more bytes every `interval` seconds (far more often than any per-read timeout would
fire) and never finishes: slowloris. Each client stops dripping once the server answers,
and records when the answer came and when the server closed the connection.
"""

from __future__ import annotations

import select
import socket
import threading
import time

from waiting import FAILSAFE_SECONDS, wait_until

HEADER_DRIP = b"X-Slow: 1\r\n"


class SlowClients:
    def __init__(
        self,
        address: tuple[str, int],
        count: int,
        opening: bytes,
        drip: bytes = HEADER_DRIP,
        interval: float = 0.2,
    ) -> None:
        self.drip, self.interval = drip, interval
        self.sockets: list[socket.socket] = []
        # Taken before connecting: the server's clock for a connection starts at or after
        # this (its accept may run before create_connection returns to this thread).
        self.connecting_at: list[float] = []
        for _ in range(count):
            self.connecting_at.append(time.monotonic())
            sock = socket.create_connection(address, timeout=FAILSAFE_SECONDS)
            sock.sendall(opening)
            self.sockets.append(sock)
        self.answers = [bytearray() for _ in self.sockets]
        self.answered_at: dict[int, float] = {}
        self.closed_at: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            open_ = [i for i in range(len(self.sockets)) if i not in self.closed_at]
            if not open_:
                return
            for i in open_:
                if i not in self.answered_at:
                    try:
                        self.sockets[i].sendall(self.drip)
                    except OSError:
                        self._closed(i)
            readable, _, _ = select.select(
                [self.sockets[i] for i in open_ if i not in self.closed_at], [], [], self.interval
            )
            for sock in readable:
                i = self.sockets.index(sock)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    self.answers[i] += data
                    self.answered_at.setdefault(i, time.monotonic())
                else:
                    self._closed(i)

    def _closed(self, i: int) -> None:
        self.closed_at.setdefault(i, time.monotonic())

    def untouched(self) -> bool:
        """No client has been answered or disconnected yet."""
        return not self.answered_at and not self.closed_at

    def wait_all_closed(self) -> None:
        wait_until(
            lambda: len(self.closed_at) == len(self.sockets),
            f"the server closes all {len(self.sockets)} slow connections",
        )

    def status_lines(self) -> list[str]:
        return [bytes(answer).split(b"\r\n", 1)[0].decode() for answer in self.answers]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(FAILSAFE_SECONDS)
        for sock in self.sockets:
            sock.close()

    def __enter__(self) -> SlowClients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def exchange(address: tuple[str, int], raw: bytes) -> bytes:
    """Send `raw` on a new connection; everything the server sends until it closes."""
    with socket.create_connection(address, timeout=FAILSAFE_SECONDS) as sock:
        sock.sendall(raw)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)
