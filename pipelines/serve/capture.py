"""Data capture for `serve`: what a SageMaker endpoint with a DataCaptureConfig writes, into
the local store.

Each invocation the model answered becomes one JSON Lines record ("Capture data from
real-time endpoint", SageMaker developer guide): `captureData.endpointInput` and
`endpointOutput` (observedContentType, mode, data, encoding: CSV or JSON text for the
configured content types, else BASE64) and `eventMetadata` (eventId, inferenceTime), under
`<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/` of the inference time (UTC). Like the
service, records are buffered and written as whole files (every `flush_seconds`, when the
buffer is full, and on close), so a reader never meets half a file. A share
`sampling_percentage` of the requests is captured.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

CSV_CONTENT_TYPES = ("text/csv",)
JSON_CONTENT_TYPES = ("application/json",)
MAX_BUFFERED = 1000


class CaptureWriter:
    def __init__(
        self,
        store: Any,
        destination_uri: str,
        endpoint: str,
        variant: str,
        *,
        sampling_percentage: int = 100,
        flush_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.prefix = f"{destination_uri.rstrip('/')}/{endpoint}/{variant}"
        self.sampling = sampling_percentage / 100.0
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.draw = draw
        self._buffer: dict[str, list[str]] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.files_written = 0

    def start(self) -> CaptureWriter:
        """Flush in the background every `flush_seconds` until close()."""
        self._thread = threading.Thread(target=self._run, name="capture-flush", daemon=True)
        self._thread.start()
        return self

    def record(
        self, body: bytes, content_type: str | None, answer: bytes, answer_type: str | None
    ) -> bool:
        """Buffer one invocation (if sampled); True when it was captured."""
        if self.sampling < 1.0 and self.draw() >= self.sampling:
            return False
        when = self.clock()
        moment = datetime.fromtimestamp(when, UTC)
        line = json.dumps(
            {
                "captureData": {
                    "endpointInput": _payload(body, content_type, "INPUT"),
                    "endpointOutput": _payload(answer, answer_type, "OUTPUT"),
                },
                "eventMetadata": {
                    "eventId": str(uuid.uuid4()),
                    "inferenceTime": moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                },
                "eventVersion": "0",
            },
            separators=(",", ":"),
        )
        folder = moment.strftime("%Y/%m/%d/%H")
        with self._lock:
            self._buffer.setdefault(folder, []).append(line)
            self._count += 1
            full = self._count >= MAX_BUFFERED
        if full:
            self.flush()
        return True

    def flush(self) -> int:
        """Write what is buffered, one new object per hour folder; returns records written."""
        with self._lock:
            buffered, self._buffer, self._count = self._buffer, {}, 0
        written = 0
        for folder, lines in buffered.items():
            moment = datetime.fromtimestamp(self.clock(), UTC)
            name = f"{moment:%M-%S}-{moment.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
            self.store.put_bytes(
                ("\n".join(lines) + "\n").encode(), f"{self.prefix}/{folder}/{name}"
            )
            self.files_written += 1
            written += len(lines)
        return written

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()


def _payload(data: bytes, content_type: str | None, mode: str) -> dict[str, str]:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    encoding = (
        "CSV" if media in CSV_CONTENT_TYPES else "JSON" if media in JSON_CONTENT_TYPES else ""
    )
    text = None
    if encoding:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is None:
        encoding, text = "BASE64", base64.b64encode(data).decode("ascii")
    return {
        "observedContentType": content_type or "",
        "mode": mode,
        "data": text,
        "encoding": encoding,
    }
