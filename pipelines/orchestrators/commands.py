"""`export stepfunctions|airflow`: the orchestrators' files, generated from configuration.

Both read the SageMaker target's configuration (bucket, role, region: the same as `stack deploy`)
and the definition `get_pipeline()` builds for it, so nothing is ever edited by hand.
"""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from pipelines.commandline import CommandArgs, add_command, add_group
from pipelines.config import ProjectConfig

FORMS = ("pipeline", "definition")


def register(group: click.Group) -> None:
    export = add_group(
        group,
        "export",
        help="write the Step Functions state machine or the MWAA DAG, from configuration",
        description=(
            "Write an orchestrator's files for the SageMaker target (PIPELINE_BUCKET, "
            "PIPELINE_ROLE_ARN, region as for stack deploy)."
        ),
        metavar="ORCHESTRATOR",
    )
    add_command(
        export,
        "stepfunctions",
        _stepfunctions,
        help="the Standard state machine (ASL JSON) and its role's IAM policy",
        params=[
            click.Option(
                ["--form"],
                type=click.Choice(FORMS),
                default="pipeline",
                help=(
                    "pipeline: start the SageMaker pipeline, wait, deploy, notify (default); "
                    "definition: the pipeline's steps translated into states that run the jobs"
                ),
            ),
            click.Option(
                ["-o", "--output"],
                type=click.Path(path_type=Path),
                help="ASL file (default: stdout)",
            ),
            click.Option(
                ["--policy"],
                type=click.Path(path_type=Path),
                help="also write the execution role's IAM policy document here",
            ),
        ],
    )
    add_command(
        export,
        "airflow",
        _airflow,
        help="the MWAA DAG file, its configuration and requirements.txt",
        params=[
            click.Option(
                ["-o", "--output"],
                type=click.Path(path_type=Path),
                required=True,
                help="folder to write to",
            )
        ],
    )


def _definition(config: ProjectConfig) -> dict[str, Any]:
    from pipelines.definition_cache import load_definition

    return json.loads(load_definition(config, "sagemaker")[0])


def _stepfunctions(args: CommandArgs, config: ProjectConfig) -> int:
    from pipelines.orchestrators import asl, stepfunctions, translate

    target = config.target("sagemaker")
    definition = _definition(config)
    if args.form == "pipeline":
        machine = stepfunctions.state_machine(config, target, definition)
        statements = stepfunctions.iam_statements(config, target)
    else:
        machine = translate.translate(definition, config, target)
        statements = translate.iam_statements(config, target, definition)
    problems = asl.structure_problems(machine)
    if problems:  # a bug in the generator, never a user error
        raise RuntimeError("generated state machine breaks the rules: " + "; ".join(problems))
    text = json.dumps(machine, indent=2) + "\n"
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(machine['States'])} states)")
    else:
        sys.stdout.write(text)
    if args.policy:
        policy = {"Version": "2012-10-17", "Statement": statements}
        args.policy.parent.mkdir(parents=True, exist_ok=True)
        args.policy.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.policy}", file=sys.stderr if not args.output else sys.stdout)
    return 0


def _airflow(args: CommandArgs, config: ProjectConfig) -> int:
    from pipelines.orchestrators.airflow_dag import write_dag

    target = config.target("sagemaker")
    for path in write_dag(args.output, config, target, _definition(config)):
        print(f"wrote {path}")
    return 0
