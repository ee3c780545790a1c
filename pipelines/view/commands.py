"""`view` (the execution's page, or the pipeline's structure) and `cost` (the cost report).

`view` with no id shows the latest execution, or the definition alone when there is none
yet; `view --definition` always shows the definition alone; `view --compare ID ID...` puts
executions side by side. They read the local engine's state. `view --target sagemaker ARN`
builds the same page from SageMaker's APIs; `cost` is local only.
"""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

from pathlib import Path

import click

from pipelines.commandline import CommandArgs, add_command, argument, json_option
from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target
from pipelines.json_output import print_json


def register(group: click.Group) -> None:
    add_command(
        group,
        "view",
        _view,
        help="write (or serve) an HTML page of an execution's DAG, outcome, charts and cost",
        description=(
            "Write a self-contained HTML page of a local execution (default: the latest; the "
            "pipeline's structure alone if there is none yet) and print its path. With "
            "--target sagemaker, the page of a SageMaker execution (give its ARN). "
            "`view --compare ID ID...` puts two or more executions side by side."
        ),
        params=[
            argument(
                "executions",
                "execution id, ARN, unique prefix or 'latest' (SageMaker: the execution ARN); "
                "with --compare, two or more",
                nargs=-1,
                metavar="[EXECUTION]...",
            ),
            click.Option(
                ["--definition"], is_flag=True, help="show the pipeline's structure alone"
            ),
            click.Option(
                ["--compare"],
                is_flag=True,
                help="local: the EXECUTIONs (two or more: ids, ARNs or prefixes) side by side",
            ),
            click.Option(
                ["--monitoring"],
                is_flag=True,
                help="local: the endpoint's drift monitoring (alarm, jobs, metrics, latest report)",
            ),
            click.Option(
                ["-o", "--output"], type=click.Path(path_type=Path), help="write the page here"
            ),
            click.Option(
                ["--serve"], is_flag=True, help="serve every execution's page on 127.0.0.1"
            ),
            click.Option(
                ["--port"],
                type=int,
                default=8765,
                help="port for --serve (default 8765; 0: any free)",
            ),
        ],
    )
    add_command(
        group,
        "cost",
        _cost,
        help="local: what an execution's jobs would cost on SageMaker ([pricing])",
        params=[
            argument(
                "execution",
                "execution id, ARN, prefix or 'latest'",
                required=False,
                default="latest",
            ),
            json_option(),
        ],
    )


def _local_only(args: CommandArgs, command: str) -> None:
    require_target(
        args,
        "local",
        f"{command} reads the local engine's state; for SageMaker use `describe`, "
        "`status` or SageMaker Studio",
    )


def _document(config: ProjectConfig, execution: str | None, definition_only: bool) -> dict:
    from pipelines.view import model

    if definition_only:
        return model.collect_definition(config)
    try:
        return model.collect_execution(config, execution)
    except LookupError as exc:
        raise UsageError(str(exc.args[0])) from exc


def _view(args: CommandArgs, config: ProjectConfig) -> int:
    # `--compare` is a flag, the executions positional: an option taking one or more
    # values is not a thing click does, and `view --compare A B` reads the same.
    if args.compare:
        args.compare, args.execution = args.executions, None
    else:
        if len(args.executions) > 1:
            raise UsageError("give one execution (or --compare with two or more)")
        args.compare, args.execution = None, (args.executions or [None])[0]
    if args.target == "sagemaker":
        return _view_sagemaker(args, config)
    if sum(bool(x) for x in (args.definition, args.execution, args.compare)) > 1:
        raise UsageError("give one of: an execution id, --definition or --compare")
    if args.serve:
        if args.output or args.compare:
            raise UsageError("--serve serves every page (compare them there); choose one")
        return _serve(config, args.port)
    if args.compare:
        return _view_compare(args, config)
    if args.monitoring:
        if args.execution or args.definition:
            raise UsageError("--monitoring shows the endpoint's monitoring, not an execution")
        from pipelines.view.monitoring import collect_monitoring
        from pipelines.view.render import render_monitoring

        page = render_monitoring(collect_monitoring(config))
        print(_write(args.output or config.local_home / "view" / "monitoring.html", page))
        return 0
    from pipelines.view.render import render_page

    document = _document(config, args.execution, args.definition)
    execution = document["execution"]
    name = execution["id"] if execution else "definition"
    path = _write(args.output or config.local_home / "view" / f"{name}.html", render_page(document))
    if execution is None and not args.definition:
        print("no local executions yet: showing the pipeline's structure alone")
    print(path)
    return 0


def _write(path: Path, page: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path.resolve()


def _view_compare(args: CommandArgs, config: ProjectConfig) -> int:
    from pipelines.view.compare import MIN_EXECUTIONS, compare
    from pipelines.view.render import render_compare

    documents = {}
    for ident in args.compare:
        document = _document(config, ident, definition_only=False)
        if document["execution"] is None:
            raise UsageError("no local executions yet: run the pipeline first")
        documents[document["execution"]["id"]] = document
    if len(documents) < MIN_EXECUTIONS:
        raise UsageError(f"--compare needs at least {MIN_EXECUTIONS} different executions")
    name = "compare-" + "-".join(sorted(documents))[:120]
    page = render_compare(compare(list(documents.values())))
    print(_write(args.output or config.local_home / "view" / f"{name}.html", page))
    return 0


def _view_sagemaker(args: CommandArgs, config: ProjectConfig) -> int:
    if args.serve or args.compare or args.definition:
        raise UsageError(
            "--target sagemaker writes one execution's page: give its ARN "
            "(--serve, --compare and --definition are local)"
        )
    if not args.execution or not args.execution.startswith("arn:"):
        raise UsageError(
            "--target sagemaker needs the execution's ARN "
            "(`run_pipeline.py --target sagemaker describe` lists recent ones)"
        )
    parts = args.execution.split(":")
    if len(parts) > 5 and parts[3] and parts[3] != config.aws.region:
        raise UsageError(
            f"the execution is in {parts[3]}, this command's region is {config.aws.region}: "
            f"add --region {parts[3]}"
        )
    from pipelines.aws.pipeline_ops import aws_session
    from pipelines.view.render import render_page
    from pipelines.view.sagemaker import collect_sagemaker_execution

    session = aws_session(config)
    document = collect_sagemaker_execution(
        config, args.execution, session.client("sagemaker"), session.client("s3")
    )
    name = f"sagemaker-{document['execution']['id']}"
    print(_write(args.output or config.local_home / "view" / f"{name}.html", render_page(document)))
    return 0


def _serve(config: ProjectConfig, port: int) -> int:
    from pipelines.view.server import ViewServer

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    try:
        server = ViewServer(config, port)
    except OSError as exc:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    print(f"serving {server.url}  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0


def _cost(args: CommandArgs, config: ProjectConfig) -> int:
    _local_only(args, "cost")
    from pipelines.view.cost import orchestration_lines, report_lines
    from pipelines.view.orchestration_cost import compare

    document = _document(config, args.execution, definition_only=False)
    execution = document["execution"]
    if execution is None:
        raise UsageError("no local executions yet: run the pipeline first")
    report = document["cost"]
    orchestration = compare(config, document)
    if args.json:
        print_json({"execution": execution["id"], **report, "orchestration": orchestration})
        return 0
    print(f"Execution {execution['id']} ({execution['status']})")
    for line in report_lines(report) + orchestration_lines(orchestration):
        print(line)
    return 0
