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

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines.config import TARGETS, ConfigError

EXIT_OK, EXIT_USAGE = 0, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="get-pipeline-definition", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--config", type=Path, help="pipeline.toml (else ./pipeline.toml, else the bundled one)"
    )
    parser.add_argument(
        "--target",
        choices=TARGETS,
        help="local or sagemaker (default: sagemaker when --kwargs names a role or bucket)",
    )
    parser.add_argument(
        "-kw",
        "--kwargs",
        default="{}",
        help="get_pipeline() keyword arguments as a JSON object",
    )
    parser.add_argument(
        "-f", "--file-name", type=Path, help="write the definition here instead of stdout"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        kwargs = json.loads(args.kwargs)
    except json.JSONDecodeError as exc:
        print(f"error: --kwargs is not JSON: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(kwargs, dict):
        print("error: --kwargs must be a JSON object of get_pipeline() arguments", file=sys.stderr)
        return EXIT_USAGE

    from pipelines.definition import TEMPLATE_ARGUMENTS, definition_json, template_config

    unknown = sorted(set(kwargs) - set(TEMPLATE_ARGUMENTS))
    if unknown:
        print(
            f"error: --kwargs: unknown argument(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(TEMPLATE_ARGUMENTS)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        config, target = template_config(args.config, target=args.target, **kwargs)
        text = definition_json(config, target)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Pretty-printed like the template's output; the same document CreatePipeline receives.
    pretty = json.dumps(json.loads(text), indent=2)
    if args.file_name:
        args.file_name.write_text(pretty + "\n", encoding="utf-8")
    else:
        print(pretty)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
