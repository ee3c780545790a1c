"""`get-pipeline-definition`: print the pipeline definition JSON, as the AWS MLOps project
template's command of that name does.

    get-pipeline-definition                            # local target, ./pipeline.toml or bundled
    get-pipeline-definition --kwargs '{"region": "eu-west-1", "role": "arn:...",
                                       "default_bucket": "my-bucket"}' -f definition.json

`--kwargs` takes what `get_pipeline()` takes (the template's names: region, role,
default_bucket, pipeline_name, model_package_group_name, base_job_prefix, ...).
Builds offline: no AWS call, no credentials needed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from pipelines.commandline import flush_stdout
from pipelines.config import TARGETS, ConfigError
from pipelines.errors import EXIT_OK, UsageError

PROG = "get-pipeline-definition"


def _template_kwargs(text: str) -> dict[str, object]:
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--kwargs is not JSON: {exc}") from None
    if not isinstance(kwargs, dict):
        raise UsageError("--kwargs must be a JSON object of get_pipeline() arguments")
    return kwargs


@click.command(name=PROG, help=__doc__.splitlines()[0])
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="pipeline.toml (else ./pipeline.toml, else the bundled one)",
)
@click.option(
    "--target",
    type=click.Choice(TARGETS),
    help="local or sagemaker (default: sagemaker when --kwargs names a role or bucket)",
)
@click.option(
    "-kw",
    "--kwargs",
    "kwargs_text",
    default="{}",
    help="get_pipeline() keyword arguments as a JSON object",
)
@click.option(
    "-f",
    "--file-name",
    type=click.Path(path_type=Path, dir_okay=False),
    help="write the definition here instead of stdout",
)
def command(
    config: Path | None, target: str | None, kwargs_text: str, file_name: Path | None
) -> None:
    kwargs = _template_kwargs(kwargs_text)
    # Deferred: the SageMaker SDK (~1,900 modules, ~2 s of CPU), after the arguments were
    # checked.
    from pipelines.definition import TEMPLATE_ARGUMENTS, definition_json, template_config

    unknown = sorted(set(kwargs) - set(TEMPLATE_ARGUMENTS))
    if unknown:
        raise UsageError(
            f"--kwargs: unknown argument(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(TEMPLATE_ARGUMENTS)}"
        )
    try:
        project, chosen = template_config(config, target=target, **kwargs)
        text = definition_json(project, chosen)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    # Pretty-printed like the template's output; the same document CreatePipeline receives.
    pretty = json.dumps(json.loads(text), indent=2)
    if file_name:
        file_name.write_text(pretty + "\n", encoding="utf-8")
    else:
        click.echo(pretty)


def main(argv: Sequence[str] | None = None) -> int:
    """The exit code: 0, or 2 for bad usage (the message on stderr)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command.main(args=args, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except UsageError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    return flush_stdout(EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
