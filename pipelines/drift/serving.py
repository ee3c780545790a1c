"""What `serve` does for the drift loop, as a deployment does on AWS: publish the served
version's baseline for the monitoring job and capture the requests it answers ([drift])."""

from __future__ import annotations

from typing import Any

from pipelines.app.runner import open_engine
from pipelines.config import ProjectConfig
from pipelines.drift.baseline import prepare_served_capture, publish_served_baseline
from pipelines.serve.capture import CaptureWriter
from pipelines.settings.drift import VARIANT, capture_uri, load_drift


def start_capture(
    config: ProjectConfig, endpoint: str, model: Any, flush_seconds: float = 5.0
) -> tuple[Any, list[str]]:
    """(the running CaptureWriter or None, lines for serve's banner)."""
    drift = load_drift(config)
    engine = open_engine(config)
    lines = []
    if drift.monitoring_enabled:
        package = engine.registry.describe(model.version, model.group)
        published = publish_served_baseline(config, engine.store, package, endpoint)
        lines.append(
            f"baseline     {published['baseline']} (for `run_pipeline.py monitor`)"
            if published["baseline"]
            else f"baseline     none: version {model.version} carries no drift baseline"
        )
    if not drift.capture_enabled:
        return None, lines
    destination = capture_uri(config, config.target("local"))
    prepare_served_capture(config, engine.store, endpoint)
    writer = CaptureWriter(
        engine.store,
        destination,
        endpoint,
        VARIANT,
        sampling_percentage=drift.capture_sampling_percentage,
        flush_seconds=flush_seconds,
    ).start()
    lines.append(
        f"capture      {destination}/{endpoint}/{VARIANT}/ "
        f"({drift.capture_sampling_percentage}% of requests)"
    )
    return writer, lines
