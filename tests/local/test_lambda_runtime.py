"""Lambda execution environments: warm reuse, scale-out, and Lambda's failure modes."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from waiting import FAILSAFE_SECONDS, POLL_SECONDS

from pipelines.local.executor import Cancelled
from pipelines.local.lambda_runtime import Invocation, LambdaRuntime, LambdaRuntimeError
from pipelines.local.registry import ModelRegistry
from pipelines.local.state import State

GROUP = "fraud-detection-models"

# Module-level state and a module-level client, as Lambda's best practices recommend: both
# live as long as the execution environment.
COUNTER_FUNCTION = """
import os, sys
import boto3

CLIENT = boto3.client("sagemaker")
CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    print(f"invocation {CALLS} event {event['n']}")
    print("to stderr", file=sys.stderr)
    groups = CLIENT.list_model_package_groups()["ModelPackageGroupSummaryList"]
    return {"pid": os.getpid(), "calls": CALLS, "groups": len(groups),
            "remaining": context.get_remaining_time_in_millis()}
"""


@pytest.fixture
def state_db(tmp_path: Path) -> Path:
    return tmp_path / "home" / "state.db"


@pytest.fixture
def registry(state_db: Path) -> ModelRegistry:
    return ModelRegistry(State(state_db), "us-east-1")


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[Callable[..., LambdaRuntime]]:
    runtimes: list[LambdaRuntime] = []

    def make(keep_warm: float = 60) -> LambdaRuntime:
        runtime = LambdaRuntime(tmp_path / "home" / "lambda-runtimes", keep_warm)
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.stop_all()


@pytest.fixture
def function(tmp_path: Path) -> Callable[[str], Path]:
    def write(code: str, name: str = "function.py") -> Path:
        path = tmp_path / "code" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(code, encoding="utf-8")
        return path

    return write


def call(
    runtime: LambdaRuntime,
    source: Path,
    state_db: Path,
    log_dir: Path,
    n: int = 0,
    timeout: float = 60,
    cancel: threading.Event | None = None,
):
    invocation = Invocation(
        function_name="counter",
        source=source,
        event={"n": n},
        state_db=state_db,
        region="us-east-1",
        log_dir=log_dir,
        timeout=timeout,
    )
    return runtime.invoke(invocation, cancel or threading.Event())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by this test process) is not running either.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    return status != "Z"


def wait_until(condition: Callable[[], bool], seconds: float = FAILSAFE_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


def test_a_warm_environment_answers_the_next_invocation(
    make_runtime, function, registry, state_db, tmp_path
):
    runtime, source = make_runtime(), function(COUNTER_FUNCTION)
    first, first_logs = call(runtime, source, state_db, tmp_path / "1", n=1)
    registry.create_group(GROUP)
    second, second_logs = call(runtime, source, state_db, tmp_path / "2", n=2)

    # Init ran once: same process, module state kept, the import-time client still works
    # and reads the registry as it is now.
    assert second["pid"] == first["pid"]
    assert (first["calls"], second["calls"]) == (1, 2)
    assert (first["groups"], second["groups"]) == (0, 1)
    assert 0 < second["remaining"] <= 60_000
    # Each invocation's output lands in its own logs.
    assert Path(first_logs[0]).read_text() == "invocation 1 event 1\n"
    assert Path(second_logs[0]).read_text() == "invocation 2 event 2\n"
    assert Path(second_logs[1]).read_text() == "to stderr\n"
    assert alive(first["pid"])


def test_changed_code_gets_a_new_environment(make_runtime, function, state_db, tmp_path):
    runtime = make_runtime()
    source = function(COUNTER_FUNCTION)
    before, _ = call(runtime, source, state_db, tmp_path / "1")
    source.write_text(COUNTER_FUNCTION.replace("CALLS = 0", "CALLS = 100"))
    after, _ = call(runtime, source, state_db, tmp_path / "2")
    assert after["pid"] != before["pid"]
    assert after["calls"] == 101
    # The environment running the old code is retired, not left to idle out.
    assert wait_until(lambda: not alive(before["pid"]))
    assert len(list(runtime.root.glob("*.json"))) == 1


def test_without_keep_warm_each_invocation_has_its_own_environment(
    make_runtime, function, state_db, tmp_path
):
    runtime, source = make_runtime(keep_warm=0), function(COUNTER_FUNCTION)
    first, _ = call(runtime, source, state_db, tmp_path / "1")
    second, _ = call(runtime, source, state_db, tmp_path / "2")
    assert first["pid"] != second["pid"]
    assert (first["calls"], second["calls"]) == (1, 1)
    assert wait_until(lambda: not alive(first["pid"]) and not alive(second["pid"]))
    assert not list(runtime.root.glob("*.json"))


# Each invocation marks its arrival, then waits for the other's: both finish only if two
# environments ran them at the same time (one environment runs one invocation at a time).
MEETING_FUNCTION = f"""
import os, pathlib, time

def handler(event, context):
    folder = pathlib.Path(event["meeting"])
    (folder / str(event["n"])).touch()
    deadline = time.monotonic() + {FAILSAFE_SECONDS}  # a failsafe, not a margin
    while len(list(folder.iterdir())) < event["of"]:
        if time.monotonic() > deadline:
            raise RuntimeError("the other invocation never ran alongside this one")
        time.sleep({POLL_SECONDS})
    return os.getpid()
"""


def test_a_busy_environment_scales_out(make_runtime, function, state_db, tmp_path):
    runtime = make_runtime()
    source = function(MEETING_FUNCTION)
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    results: dict[int, int] = {}

    def run(n: int) -> None:
        invocation = Invocation(
            function_name="meeting",
            source=source,
            event={"meeting": str(meeting), "n": n, "of": 2},
            state_db=state_db,
            region="us-east-1",
            log_dir=tmp_path / str(n),
            timeout=2 * FAILSAFE_SECONDS,
        )
        results[n] = runtime.invoke(invocation, threading.Event())[0]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results.values())) == 2  # two environments answered, both succeeded


def test_a_handler_error_is_the_answer_and_the_environment_stays(
    make_runtime, function, state_db, tmp_path
):
    runtime = make_runtime()
    source = function(
        "import os\n"
        "def handler(event, context):\n"
        "    if event['n'] == 1:\n"
        "        raise ValueError('column amount is missing')\n"
        "    return os.getpid()\n"
    )
    with pytest.raises(
        LambdaRuntimeError, match="function counter failed: ValueError: column amount is missing"
    ):
        call(runtime, source, state_db, tmp_path / "1", n=1)
    assert "Traceback" in (tmp_path / "1" / "stderr.log").read_text()
    pid, _ = call(runtime, source, state_db, tmp_path / "2", n=2)
    assert call(runtime, source, state_db, tmp_path / "3", n=3)[0] == pid


def test_a_runtime_that_exits_mid_invocation_fails_it_and_is_replaced(
    make_runtime, function, state_db, tmp_path
):
    runtime = make_runtime()
    source = function(
        "import os\n"
        "def handler(event, context):\n"
        "    if event['n'] == 1:\n"
        "        os._exit(3)\n"
        "    return os.getpid()\n"
    )
    with pytest.raises(LambdaRuntimeError, match=r"Runtime\.ExitError"):
        call(runtime, source, state_db, tmp_path / "1", n=1)
    assert isinstance(call(runtime, source, state_db, tmp_path / "2", n=2)[0], int)


# What the environment has loaded when the function's init starts: the module list at the top
# of a function's own code.
LOADED_AT_INIT_FUNCTION = """
import sys

LOADED = sorted(
    name for name in ("boto3", "botocore", "pydantic", "pipelines.config") if name in sys.modules
)

def handler(event, context):
    return LOADED
"""


def test_a_cold_environment_leaves_the_sdk_to_the_function_init(
    make_runtime, function, state_db, tmp_path
):
    """A cold start pays for what the function imports, as on Lambda: the environment has
    not loaded the SDK for it. Nor the project's configuration (pydantic), which serving
    the local APIs does not need and which once added about 0.2 CPU s to every cold start."""
    loaded, _ = call(
        make_runtime(keep_warm=0), function(LOADED_AT_INIT_FUNCTION), state_db, tmp_path
    )
    assert loaded == []


def test_an_init_error_names_the_cause_and_the_log(make_runtime, function, state_db, tmp_path):
    source = function("import no_such_module\ndef handler(event, context):\n    return 1\n")
    for runtime in (make_runtime(), make_runtime(keep_warm=0)):
        with pytest.raises(LambdaRuntimeError, match=r"failed during init: ModuleNotFoundError"):
            call(runtime, source, state_db, tmp_path / "1")
    missing = function("x = 1\n", name="no_handler.py")
    with pytest.raises(LambdaRuntimeError, match="defines no handler"):
        call(make_runtime(), missing, state_db, tmp_path / "2")


def test_a_timeout_stops_the_environment(make_runtime, function, state_db, tmp_path):
    runtime = make_runtime()
    source = function(
        "import os, pathlib, time\n"
        "def handler(event, context):\n"
        "    pathlib.Path(event['pid_file']).write_text(str(os.getpid()))\n"
        "    if event['sleep']:\n"
        "        time.sleep(300)\n"
    )
    pid_file = tmp_path / "pid"

    def invocation(log_dir: str, timeout: float, sleep: bool) -> Invocation:
        return Invocation(
            function_name="slow",
            source=source,
            event={"pid_file": str(pid_file), "sleep": sleep},
            state_db=state_db,
            region="us-east-1",
            log_dir=tmp_path / log_dir,
            timeout=timeout,
        )

    # Warm first: the short timeout below then times the handler, never a slow init.
    runtime.invoke(invocation("warm", FAILSAFE_SECONDS, sleep=False), threading.Event())
    warm_pid = int(pid_file.read_text())
    with pytest.raises(LambdaRuntimeError, match=r"Task timed out after 1.5 seconds \(slow\)"):
        runtime.invoke(invocation("1", 1.5, sleep=True), threading.Event())
    assert wait_until(lambda: not alive(warm_pid))

    # Cancelled once the handler is running (its pid file is written anew).
    pid_file.unlink()
    cancel = threading.Event()

    def cancel_once_running() -> None:
        wait_until(pid_file.exists)
        cancel.set()

    threading.Thread(target=cancel_once_running, daemon=True).start()
    with pytest.raises(Cancelled):
        runtime.invoke(invocation("2", FAILSAFE_SECONDS, sleep=True), cancel)
    assert wait_until(lambda: not alive(int(pid_file.read_text())))


def test_an_idle_environment_exits_and_so_does_one_whose_home_is_gone(
    make_runtime, function, state_db, tmp_path
):
    source = function(COUNTER_FUNCTION)
    brief = make_runtime(keep_warm=0.5)
    pid = call(brief, source, state_db, tmp_path / "1")[0]["pid"]
    assert wait_until(lambda: not alive(pid))
    assert not list(brief.root.glob("*.json"))

    runtime = make_runtime(keep_warm=300)
    pid = call(runtime, source, state_db, tmp_path / "2")[0]["pid"]
    for port_file in runtime.root.glob("*.json"):
        port_file.unlink()  # what removing the local home does
    assert wait_until(lambda: not alive(pid))


def test_a_killed_environment_is_replaced_on_the_next_invocation(
    make_runtime, function, state_db, tmp_path
):
    runtime, source = make_runtime(), function(COUNTER_FUNCTION)
    pid = call(runtime, source, state_db, tmp_path / "1")[0]["pid"]
    os.killpg(pid, 9)
    assert wait_until(lambda: not alive(pid))
    again, _ = call(runtime, source, state_db, tmp_path / "2")
    assert again["pid"] != pid and again["calls"] == 1
    assert runtime.stop_all() == 1
    assert wait_until(lambda: not alive(again["pid"]))


def test_keep_warm_comes_from_the_config_and_is_checked() -> None:
    from pipelines.config import ConfigError, load_config

    assert load_config(environ={}).local.lambda_keep_warm_seconds == 300
    with pytest.raises(
        ConfigError, match=r"\[local\].lambda_keep_warm_seconds must be at least 0, got -1"
    ):
        load_config(environ={}, overrides={"local": {"lambda_keep_warm_seconds": -1}})
    with pytest.raises(
        ConfigError, match=r"\[local\].lambda_keep_warm_seconds must be float, got 'long'"
    ):
        load_config(environ={}, overrides={"local": {"lambda_keep_warm_seconds": "long"}})
