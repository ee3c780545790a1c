"""Commands: `deploy` and `endpoints list|cleanup` (SageMaker), `serve` (local)."""

# Handlers import their implementation when they run: pipelines/commandline.py says why (~0.3 s).

from __future__ import annotations

import logging

import click

from pipelines.commandline import CommandArgs, add_command, add_group, json_option
from pipelines.config import ProjectConfig
from pipelines.errors import UsageError, require_target
from pipelines.settings.deployment import LOOPBACK_HOSTS, load_deployment


def register(group: click.Group) -> None:
    add_command(
        group,
        "deploy",
        _deploy,
        help="SageMaker: put an approved model version on the real-time endpoint",
        description=(
            "Create the endpoint ([deployment].endpoint_name) or update it in place with an "
            "Approved model package version: the newest by default. The stack's approval rule "
            "(`stack deploy`) does the same on every approval. Locally, use `serve`."
        ),
        params=[
            click.Option(
                ["--model-version"],
                type=int,
                metavar="N",
                help="this Approved version (default: newest)",
            )
        ],
    )

    endpoints = add_group(
        group,
        "endpoints",
        help="SageMaker: list the project's endpoints, delete idle ones",
        description=(
            "Endpoints tagged pipeline-deploy=<pipeline>. An endpoint is idle when its "
            "Invocations metric sums to 0 over the last --idle-hours and it was not created "
            "or updated within them."
        ),
    )
    for verb, text in (
        ("list", "each endpoint with its invocations and whether it is idle"),
        ("cleanup", "delete idle endpoints with their endpoint configs and models"),
    ):
        params = [
            click.Option(
                ["--idle-hours"],
                type=float,
                help="window in hours (default [deployment].idle_hours)",
            )
        ]
        if verb == "list":
            params.append(json_option())
        if verb == "cleanup":
            params.append(click.Option(["--dry-run"], is_flag=True, help="report, delete nothing"))
        add_command(endpoints, verb, _endpoints, help=text, params=params, endpoints_verb=verb)

    add_command(
        group,
        "serve",
        _serve,
        help="local: serve the approved model over HTTP (SageMaker inference contract)",
        description=(
            "Serve the newest Approved version of the model package group (or --model-version "
            "N) on 127.0.0.1: GET /ping, POST /invocations with text/csv or application/json. "
            "The model's own code/inference.py answers. Ctrl-C stops."
        ),
        params=[
            click.Option(
                ["--model-version"],
                type=int,
                metavar="N",
                help="serve version N (even if not Approved, with a warning)",
            ),
            click.Option(["--host"], help="address to bind (default [deployment].serve_host)"),
            click.Option(
                ["--port"],
                type=int,
                help="port (default [deployment].serve_port; 0 picks a free one)",
            ),
            click.Option(
                ["--allow-remote"],
                is_flag=True,
                help="allow binding a non-loopback address (the server has no authentication)",
            ),
        ],
    )


def _deploy(args: CommandArgs, config: ProjectConfig) -> int:
    require_target(
        args,
        "sagemaker",
        "deploy puts a model on a SageMaker endpoint: add --target sagemaker (locally, "
        "`serve` runs the approved model on 127.0.0.1)",
    )
    from pipelines.deploy import aws_deploy

    try:
        aws_deploy.deploy(config, args.model_version)
    except aws_deploy.NothingToDeployError as exc:
        raise UsageError(str(exc)) from None
    return 0


def _endpoints(args: CommandArgs, config: ProjectConfig) -> int:
    require_target(
        args,
        "sagemaker",
        "endpoints manage SageMaker endpoints: add --target sagemaker (`serve` stops "
        "with Ctrl-C locally)",
    )
    from pipelines.deploy import endpoints

    if args.endpoints_verb == "list":
        return endpoints.list_endpoints(config, idle_hours=args.idle_hours, as_json=args.json)
    endpoints.cleanup(config, idle_hours=args.idle_hours, dry_run=args.dry_run)
    return 0


def _serve(args: CommandArgs, config: ProjectConfig) -> int:
    require_target(
        args,
        "local",
        "serve runs the model locally; on SageMaker, `deploy --target sagemaker` puts it "
        "on the endpoint",
    )
    from pipelines.serve.model import ServeError, load
    from pipelines.serve.server import InferenceServer

    settings = load_deployment(config)
    host = args.host or settings.serve_host
    port = settings.serve_port if args.port is None else args.port
    if host not in LOOPBACK_HOSTS and not args.allow_remote:
        raise UsageError(
            f"refusing to serve on {host!r}: the server has no authentication; use "
            f"{LOOPBACK_HOSTS[0]} or pass --allow-remote"
        )
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be between 0 and 65535, got {port}")
    try:
        model = load(config, args.model_version)
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    if model.approval_status != "Approved":
        print(
            f"warning: version {model.version} is {model.approval_status}, not Approved; "
            "serving it because --model-version asked for it"
        )
    from pipelines.drift.serving import start_capture

    capture, lines = start_capture(config, settings.endpoint_name, model)
    try:
        server = InferenceServer(
            (host, port),
            model,
            max_payload_bytes=settings.max_payload_bytes,
            threads=settings.serve_threads,
            request_timeout=settings.serve_request_timeout_seconds,
            max_connections=settings.serve_max_connections,
            capture=capture,
        )
    except OSError as exc:
        if capture is not None:
            capture.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print(f"Serving {model.group} version {model.version} ({model.arn})", flush=True)
    print(f"  model files  {model.directory}", flush=True)
    for line in lines:
        print(f"  {line}", flush=True)
    print(f"  listening    {server.url}  (GET /ping, POST /invocations; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        server.server_close()
        if capture is not None:
            capture.close()
    return 0
