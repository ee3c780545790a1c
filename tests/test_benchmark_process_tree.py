"""benchmarks/process_tree.py counts the helpers a command leaves running, as the Lambda
environments outlive a run: their memory in the peak and their CPU in the total.

The measurement runs in its own interpreter: measuring makes a process a child subreaper,
which the test session must not become (other tests' orphans would be re-parented to it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPER_MB = 150
HELPER_CPU_SECONDS = 0.6

# A detached helper (new session, like a Lambda environment): it holds HELPER_MB, burns
# HELPER_CPU_SECONDS of CPU, says it is ready, then lives on until told to stop.
HELPER = f"""
import pathlib, sys, time
held = bytearray({HELPER_MB} * 2**20)
for at in range(0, len(held), 4096):
    held[at] = 1  # touched: resident, not only reserved
started = time.process_time()
while time.process_time() - started < {HELPER_CPU_SECONDS}:
    pass
folder = pathlib.Path(sys.argv[1])
(folder / "ready").write_text("")
while not (folder / "stop").exists():
    time.sleep(0.02)
"""

# The measured command starts the helper, waits until it is ready and exits, leaving it
# running; the measurement ends with the command.
COMMAND = """
import pathlib, subprocess, sys, time
folder = pathlib.Path(sys.argv[1])
subprocess.Popen([sys.executable, "-c", sys.argv[2], str(folder)], start_new_session=True)
while not (folder / "ready").exists():
    time.sleep(0.02)
"""

MEASURE = """
import json, os, pathlib, sys
sys.path.insert(0, sys.argv[1])
from process_tree import run_measured
folder = sys.argv[2]
first = run_measured([sys.executable, "-c", sys.argv[3], folder, sys.argv[4]])
(pathlib.Path(folder) / "stop").write_text("")
while True:  # the helper, adopted by this process, ends once told to
    try:
        os.wait()
    except ChildProcessError:
        break
print(json.dumps({"seconds": first.seconds, "cpu": first.cpu_seconds,
                  "peak_mb": first.peak_rss_mb}))
"""


def test_a_detached_helper_counts_in_peak_memory_and_cpu(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(ROOT / "benchmarks"), str(tmp_path), COMMAND, HELPER],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    measured = json.loads(result.stdout)
    # wait4 alone would report the command's own few MB and a few tenths of CPU seconds.
    assert measured["peak_mb"] >= HELPER_MB
    assert measured["cpu"] >= HELPER_CPU_SECONDS
