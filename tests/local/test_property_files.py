"""PropertyFiles alone: found through the output the step declares, read once, and errors
that name the file and the step."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.local.expressions import ExpressionError
from pipelines.local.graph import build_graph
from pipelines.local.property_files import PropertyFiles
from pipelines.local.state import State
from pipelines.local.storage import ArtifactStore

OUTPUT = "s3://bucket/exec/Evaluate/evaluation"
GRAPH = build_graph(
    {
        "Steps": [
            {
                "Name": "Evaluate",
                "Type": "Processing",
                "PropertyFiles": [
                    {
                        "PropertyFileName": "Report",
                        "OutputName": "evaluation",
                        "FilePath": "evaluation.json",
                    }
                ],
            }
        ]
    }
)
PROPERTIES = {
    "Evaluate": {
        "ProcessingOutputConfig": {
            "Outputs": [{"OutputName": "evaluation", "S3Output": {"S3Uri": OUTPUT}}]
        }
    }
}


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store", digests=State(tmp_path / "state.db"))


def test_a_property_file_is_read_from_its_output_once(store: ArtifactStore) -> None:
    files = PropertyFiles(GRAPH, store, PROPERTIES)
    store.put_bytes(b'{"mae": 3.5}', f"{OUTPUT}/evaluation.json")
    assert files.read("Evaluate", "Report") == {"mae": 3.5}
    store.put_bytes(b'{"mae": 9}', f"{OUTPUT}/evaluation.json")
    assert files.read("Evaluate", "Report") == {"mae": 3.5}


def test_errors_name_the_property_file_and_the_step(store: ArtifactStore) -> None:
    files = PropertyFiles(GRAPH, store, PROPERTIES)
    with pytest.raises(ExpressionError, match="step Evaluate declares no PropertyFile named 'X'"):
        files.read("Evaluate", "X")
    with pytest.raises(ExpressionError, match=r"PropertyFile Report of step Evaluate: .*no such"):
        files.read("Evaluate", "Report")
    store.put_bytes(b"not json", f"{OUTPUT}/evaluation.json")
    with pytest.raises(ExpressionError, match=r"evaluation.json is not valid JSON"):
        files.read("Evaluate", "Report")
