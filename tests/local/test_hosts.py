"""pipelines/local/hosts.py: a job's instances as processes, their shares, their outputs."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pipelines.local import hosts
from pipelines.local.hosts import HostClash, HostRun


def test_host_names_follow_sagemaker():
    assert hosts.host_names(1) == ["algo-1"]
    assert hosts.host_names(3) == ["algo-1", "algo-2", "algo-3"]


@pytest.mark.parametrize("value", [0, -1, 1.5, "two", True, None])
def test_instance_count_must_be_a_positive_integer(value):
    with pytest.raises(ValueError, match="InstanceCount"):
        hosts.instance_count(value, "ClusterConfig.InstanceCount")


def test_instance_count_accepts_integral_values():
    assert hosts.instance_count(2, "x") == 2
    assert hosts.instance_count("3", "x") == 3
    assert hosts.instance_count(2.0, "x") == 2


def test_sharded_by_s3_key_gives_each_object_to_exactly_one_host():
    objects = [f"s3://b/data/part-{i:02d}.csv" for i in range(11)]
    shares = [hosts.share_of(objects, "ShardedByS3Key", i, 3) for i in range(3)]
    flat = [o for share in shares for o in share]
    assert sorted(flat) == objects and len(flat) == len(set(flat))
    # "approximately 1/n of the number of S3 objects" each: counts within one.
    assert [len(share) for share in shares] == [4, 4, 3]
    # Each share keeps the listing order.
    assert all(share == sorted(share) for share in shares)


def test_fewer_objects_than_hosts_leaves_some_hosts_without_data():
    objects = ["s3://b/one.csv"]
    assert hosts.share_of(objects, "ShardedByS3Key", 0, 2) == objects
    assert hosts.share_of(objects, "ShardedByS3Key", 1, 2) == []


def test_fully_replicated_and_one_host_give_everything():
    objects = ["s3://b/a", "s3://b/b"]
    assert hosts.share_of(objects, "FullyReplicated", 1, 2) == objects
    # ShardedByS3Key on one instance is FullyReplicated.
    assert hosts.share_of(objects, "ShardedByS3Key", 0, 1) == objects


def test_unknown_distribution_is_refused():
    with pytest.raises(ValueError, match="'Sharded' is not one of FullyReplicated"):
        hosts.share_of(["s3://b/a"], "Sharded", 0, 1)


def test_merge_keeps_identical_files_once_and_refuses_different_ones(tmp_path):
    one, two = tmp_path / "algo-1", tmp_path / "algo-2"
    for folder, host in ((one, "algo-1"), (two, "algo-2")):
        (folder / "sub").mkdir(parents=True)
        (folder / "same.txt").write_text("identical")
        (folder / "sub" / f"part-{host}.txt").write_text(host)
    merged = hosts.merge_folders({"algo-1": one, "algo-2": two}, "output train")
    assert [relative for relative, _ in merged] == [
        "same.txt",
        "sub",
        "sub/part-algo-1.txt",
        "sub/part-algo-2.txt",
    ]
    (two / "same.txt").write_text("different")
    with pytest.raises(HostClash) as clash:
        hosts.merge_folders({"algo-1": one, "algo-2": two}, "output train")
    message = str(clash.value)
    assert "hosts algo-1 and algo-2 both wrote 'same.txt' to output train" in message
    assert "current_host" in message


def _host(tmp_path: Path, host: str, body: str) -> HostRun:
    code = tmp_path / f"{host}.py"
    code.write_text(textwrap.dedent(body))
    return HostRun(
        host, [sys.executable, str(code)], cwd=tmp_path, env=os.environ, log_dir=tmp_path / host
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; only its parent (not us for grandchildren) reaps it.
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" not in status.read_text()


SLEEPER = """
import os, pathlib, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
pathlib.Path("{pids}").write_text(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
"""


def test_the_first_failure_stops_the_other_hosts_and_their_children(tmp_path):
    pids = tmp_path / "sleeper.pids"
    runs = [
        _host(tmp_path, "algo-1", SLEEPER.format(pids=pids)),
        # Fails only once the sleeper (and its child) are up: a readiness signal.
        _host(
            tmp_path,
            "algo-2",
            f"""
            import pathlib, sys, time
            while not pathlib.Path({str(pids)!r}).exists():
                time.sleep(0.05)
            sys.exit("ERROR: bad shard")
            """,
        ),
    ]
    results = hosts.run_hosts(runs, timeout=120, cancel=threading.Event(), max_parallel=2)
    sleeper, failing = results
    assert failing.failed and failing.exit_code == 1
    assert sleeper.stopped and not sleeper.failed
    assert hosts.first_failure(results) is failing
    assert not any(_alive(int(pid)) for pid in pids.read_text().split())
    assert Path(failing.stderr).read_text().strip() == "ERROR: bad shard"
    assert failing.peak_rss_mb and failing.peak_rss_mb > 1


def test_cancellation_kills_every_host(tmp_path):
    pid_files = [tmp_path / f"algo-{i}.pids" for i in (1, 2)]
    runs = [_host(tmp_path, f"algo-{i}", SLEEPER.format(pids=pid_files[i - 1])) for i in (1, 2)]
    cancel = threading.Event()

    def cancel_when_both_run():
        while not all(path.exists() for path in pid_files):
            threading.Event().wait(0.05)
        cancel.set()

    watcher = threading.Thread(target=cancel_when_both_run, daemon=True)
    watcher.start()
    with pytest.raises(hosts.Cancelled):
        hosts.run_hosts(runs, timeout=120, cancel=cancel, max_parallel=2)
    watcher.join()
    pids = [int(pid) for path in pid_files for pid in path.read_text().split()]
    assert len(pids) == 4 and not any(_alive(pid) for pid in pids)


def test_hosts_beyond_the_parallel_limit_wait_their_turn(tmp_path):
    order = tmp_path / "order.txt"
    body = f"""
    import pathlib, sys
    with open({str(order)!r}, "a") as handle:
        handle.write(sys.argv[0].rsplit("/", 1)[-1] + "\\n")
    """
    runs = [_host(tmp_path, f"algo-{i}", body) for i in (1, 2, 3)]
    results = hosts.run_hosts(runs, timeout=None, cancel=threading.Event(), max_parallel=1)
    assert [r.exit_code for r in results] == [0, 0, 0]
    assert order.read_text().split() == ["algo-1.py", "algo-2.py", "algo-3.py"]
