"""The served model's baseline where the monitoring job reads it, locally.

On AWS the deploy function (lambdas/deploy_model.py's `publish_baseline`) copies the
deployed version's drift-check baseline to `<prefix>/monitoring/<endpoint>/baseline/` when
it deploys. `serve` does the same with the same function, through `StoreS3`: the few S3
calls it makes, answered by the local artifact store.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

from pipelines.config import PROJECT_ROOT, ProjectConfig
from pipelines.settings.drift import capture_uri, monitoring_uri


class StoreS3:
    """put_object, copy_object and delete_object of boto3's S3 client, on the local store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict:
        self.store.put_bytes(bytes(Body), f"s3://{Bucket}/{Key}")
        return {}

    def copy_object(self, *, Bucket: str, Key: str, CopySource: dict) -> dict:
        source = f"s3://{CopySource['Bucket']}/{CopySource['Key']}"
        self.store.put_bytes(self.store.read_bytes(source), f"s3://{Bucket}/{Key}")
        return {}

    def delete_object(self, *, Bucket: str, Key: str) -> dict:
        # S3 answers a delete of a missing key with success too.
        self.store.path_for(f"s3://{Bucket}/{Key}").unlink(missing_ok=True)
        return {}


def prepare_served_capture(config: ProjectConfig, store: Any, endpoint: str) -> str:
    """The capture folder's README, as a deployment leaves it (the job's input never empty)."""
    destination = capture_uri(config, config.target("local"))
    return _deploy_function(config).prepare_capture_folder(StoreS3(store), destination, endpoint)


def publish_served_baseline(
    config: ProjectConfig, store: Any, package: dict[str, Any], endpoint: str
) -> dict[str, Any]:
    """The package's baseline (or a NO_CHAMPION marker) at the endpoint's monitoring input."""
    uri = monitoring_uri(config, config.target("local"), endpoint, "baseline")
    return _deploy_function(config).publish_baseline(StoreS3(store), package, uri)


def _deploy_function(config: ProjectConfig) -> ModuleType:
    """lambdas/deploy_model.py of the project (of this checkout when pipeline.toml lives
    apart from the code)."""
    path = config.root / "lambdas" / "deploy_model.py"
    if not path.is_file():
        path = PROJECT_ROOT / "lambdas" / "deploy_model.py"
    spec = importlib.util.spec_from_file_location("deploy_model", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
