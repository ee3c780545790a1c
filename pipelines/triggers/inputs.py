"""What scheduled and data-arrival runs train on: the configured input location from
`[triggers]`, never the pipeline's default (the bundled sample).

- Nightly (EventBridge Scheduler target, local `schedule`): InputDataUrl = the input location
  (s3://<bucket>/<input_prefix>; locally `[triggers].local_input`) and InputPartitionWindow =
  `input_partition_window`; `schedule_parameters` may override either.
- Data arrival, by `[triggers].data_arrival_input`: "object" trains on the arrived object
  alone (InputDataUrl = s3://<bucket>/<key>; locally the new file); "prefix" on everything
  under the input location (locally the watched folder), "partitions" on its newest
  `input_partition_window` dated partitions.

Either way SnapshotInput freezes what the URI names at run start, so the same data is a cache
hit and new data a retrain.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.config import ProjectConfig
from pipelines.eventbridge.patterns import INPUT_PARAMETER, PIPE_INPUT_PATH
from pipelines.settings.triggers import TriggerSettings

WINDOW_PARAMETER = "InputPartitionWindow"


def input_location(bucket: str, triggers: TriggerSettings) -> str:
    return f"s3://{bucket}/{triggers.input_prefix}"


def local_input_location(config: ProjectConfig, triggers: TriggerSettings) -> str:
    """`[triggers].local_input` (a path relative to the project, or an s3:// URI in the local
    store); empty: the local store's twin of the AWS input location."""
    value = triggers.local_input
    if not value:
        return input_location(config.target("local").bucket, triggers)
    if value.startswith("s3://"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else config.root / path)


def schedule_parameters(triggers: TriggerSettings, location: str) -> dict[str, str]:
    return {
        INPUT_PARAMETER: location,
        WINDOW_PARAMETER: str(triggers.input_partition_window),
        **triggers.schedule_parameters,
    }


def _arrival_window(triggers: TriggerSettings) -> str:
    return str(
        triggers.input_partition_window if triggers.data_arrival_input == "partitions" else 0
    )


def pipe_parameters(triggers: TriggerSettings, location: str) -> list[dict[str, str]]:
    """The EventBridge Pipe's PipelineParameterList: the arrived object (a dynamic path into
    the buffered message) or the input location (a constant)."""
    if triggers.data_arrival_input == "object":
        return [{"Name": INPUT_PARAMETER, "Value": PIPE_INPUT_PATH}]
    return [
        {"Name": INPUT_PARAMETER, "Value": location},
        {"Name": WINDOW_PARAMETER, "Value": _arrival_window(triggers)},
    ]


def watch_overrides(triggers: TriggerSettings, path: Path, directory: Path) -> dict[str, str]:
    """The local twin of `pipe_parameters`: the new file, or the watched folder."""
    if triggers.data_arrival_input == "object":
        return {INPUT_PARAMETER: str(path)}
    return {INPUT_PARAMETER: str(directory), WINDOW_PARAMETER: _arrival_window(triggers)}
