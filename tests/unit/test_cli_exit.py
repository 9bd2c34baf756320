"""The console script's exit skips the interpreter's teardown but keeps what an exit promises:
atexit handlers run, buffered output is flushed, the exit code is kept."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import atexit, sys
from deployer.cli.entry import exit_now
atexit.register(lambda: print("atexit ran", file=sys.stderr))
sys.stdout.write("buffered " * 2000)  # more than a line: still in the buffer at exit
exit_now(int(sys.argv[1]))
"""


def test_the_fast_exit_runs_atexit_flushes_and_keeps_the_code() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, "7"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 7
    assert done.stdout == "buffered " * 2000
    assert done.stderr == "atexit ran\n"


def test_a_non_daemon_thread_still_alive_gets_the_normal_exit_that_waits_for_it() -> None:
    late = "threading.Thread(target=lambda: (time.sleep(0.5), print('thread done'))).start()\n"
    script = SCRIPT.replace("exit_now(", "import threading, time\n" + late + "exit_now(")
    done = subprocess.run([sys.executable, "-c", script, "3"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    assert done.stdout.endswith("thread done\n")


def test_a_command_runs_with_the_raised_collector_threshold_and_the_page_with_the_default() -> None:
    script = """
import gc, sys
from deployer.cli import entry
sys.argv = ["deployer", "clusters", "--help"]
assert entry.main() == 0
print(gc.get_threshold())
entry.keep_default_collection()
print(gc.get_threshold())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stderr
    assert lines[-2:] == ["(200000, 30, 30)", "(700, 10, 10)"]


def test_the_page_and_the_worker_go_back_to_the_default_collector(tmp_path) -> None:
    script = """
import gc, sys
from deployer.cli import entry
from deployer.cli.main import main
gc.set_threshold(*entry.COMMAND_GC_THRESHOLD)
code = main([*sys.argv[1:], "--grace-period", "not-a-duration"])  # refused once the command runs
print(code, gc.get_threshold())
"""
    for command in ("web", "worker"):
        done = subprocess.run([sys.executable, "-c", script, command, "--state-dir", str(tmp_path)],
                              capture_output=True, text=True, timeout=60)
        assert done.stdout.strip().splitlines()[-1] == "2 (700, 10, 10)", (command, done.stdout, done.stderr)
