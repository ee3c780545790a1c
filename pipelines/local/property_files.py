"""What `Std:JsonGet` reads during one execution: a step's PropertyFile, read from the
output it names once that step has succeeded (then kept: outputs do not change), or a JSON
object at an S3 URI."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

from pipelines.local.expressions import ExpressionError, property_at
from pipelines.local.graph import StepGraph
from pipelines.local.storage import ArtifactStore, StoreError, join_uri


class PropertyFiles:
    def __init__(
        self,
        graph: StepGraph,
        store: ArtifactStore,
        properties: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.graph = graph
        self.store = store
        # The execution's step properties by step name, filled in as steps succeed.
        self.properties = properties
        self._documents: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def read(self, step: str, name: str) -> Any:
        """The parsed JSON of PropertyFile `name` of `step`."""
        key = (step, name)
        with self._lock:
            if key in self._documents:
                return self._documents[key]
        spec = next(
            (
                p
                for p in self.graph[step].spec.get("PropertyFiles") or []
                if p.get("PropertyFileName") == name
            ),
            None,
        )
        if spec is None:
            raise ExpressionError(f"step {step} declares no PropertyFile named {name!r}")
        output = property_at(
            self.properties[step],
            f"ProcessingOutputConfig.Outputs['{spec['OutputName']}'].S3Output.S3Uri",
            f"Steps.{step}",
        )
        uri = join_uri(output, spec["FilePath"])
        try:
            document = self.json_at(uri)
        except ExpressionError as exc:
            raise ExpressionError(f"PropertyFile {name} of step {step}: {exc}") from None
        with self._lock:
            self._documents[key] = document
        return document

    def json_at(self, uri: str) -> Any:
        try:
            data = self.store.read_bytes(uri)
        except StoreError as exc:
            raise ExpressionError(str(exc)) from None
        try:
            return json.loads(data)
        except ValueError as exc:
            raise ExpressionError(f"{uri} is not valid JSON: {exc}") from None
