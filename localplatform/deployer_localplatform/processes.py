"""Starting, watching and stopping the platform's processes.

Each component runs detached (its own session, hence its own process group) so it outlives the
`deployer platform up` that started it, and so stopping it can signal the whole group: nothing
it forked is left behind. A pid file per component records the pid together with the kernel's
start time of that pid, so a stale pid file whose pid was reused by an unrelated process is
recognised as dead rather than killed.

Linux only (reads /proc), like the platform itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deployer.errors import ToolError
from deployer.polling import poll_until

LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class ProcessSpec:
    """What to run for one component, and where its log and pid file go."""

    name: str
    argv: list[str]
    log: Path
    pidfile: Path


@dataclass(frozen=True)
class RunningProcess:
    name: str
    pid: int
    start_ticks: int
    log: Path

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces; split after it.
    return raw[raw.rindex(")") + 2:].split()


def _start_ticks(pid: int) -> int | None:
    """The pid's start time in clock ticks since boot, or None if it is gone or a zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        _reap(pid)
        return None
    return int(fields[19])  # field 22 of /proc/PID/stat


def _reap(pid: int) -> None:
    # When the platform was started from this very process (the test fixture does that), its
    # children stay zombies until waited for.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def start(spec: ProcessSpec) -> RunningProcess:
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    spec.pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(spec.argv)}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(spec.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True)
        except OSError as exc:
            raise ToolError(f"platform component {spec.name}: cannot start {spec.argv[0]}: {exc.strerror}",
                            hint="Run `deployer platform prepare` to build or install it.") from exc
    ticks = _start_ticks(proc.pid)
    # A process that died within microseconds has no start time; record it anyway so the
    # readiness check reports its log rather than a missing pid file.
    running = RunningProcess(spec.name, proc.pid, ticks if ticks is not None else -1, spec.log)
    spec.pidfile.write_text(json.dumps({"pid": running.pid, "startTicks": running.start_ticks,
                                        "log": str(spec.log)}) + "\n")
    return running


def read_pidfile(path: Path) -> RunningProcess | None:
    try:
        data = json.loads(path.read_text())
        return RunningProcess(path.stem, int(data["pid"]), int(data["startTicks"]), Path(data["log"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def stop(processes: Iterable[RunningProcess], *, grace: float = 10.0) -> list[str]:
    """Stop each live process group in the order given: SIGTERM, then SIGKILL after ``grace`` s.

    One at a time, because order matters: an API server asked to stop after its etcd is gone
    waits for etcd until it is killed, while clients-first lets each exit within a second.
    Returns the names of the groups that had to be killed. Raises ToolError if a group survives
    SIGKILL (a process stuck in the kernel), since the caller promised to leave nothing behind.
    """
    killed = []
    for proc in processes:
        if not proc.alive():
            continue
        pgid = proc.pid  # started with start_new_session: its pid is its process group id
        _signal_group(pgid, signal.SIGTERM)
        if _wait_group_empty(pgid, grace):
            continue
        killed.append(proc.name)
        _signal_group(pgid, signal.SIGKILL)
        if not _wait_group_empty(pgid, 5.0):
            raise ToolError(f"platform process {proc.name} (process group {pgid}) survives SIGKILL",
                            hint=f"Look at it with `ps -o pid,stat,cmd -g {pgid}`; a process in state D "
                                 "waits on the kernel.")
    return killed


def by_start_time_newest_first(processes: Iterable[RunningProcess]) -> list[RunningProcess]:
    """Reverse start order: what started last (the clients) stops first, etcd last."""
    return sorted(processes, key=lambda p: (p.start_ticks, p.pid), reverse=True)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _wait_group_empty(pgid: int, timeout: float) -> bool:
    def empty() -> bool | None:
        _reap(pgid)
        return True if not group_members(pgid) else None

    return poll_until(empty, timeout, interval=0.02) is True


def strays(marker: str) -> list[int]:
    """Session leaders (as the platform starts them) whose command line names ``marker``.

    Used to find processes of a platform whose pid files were lost, for example when `up` was
    killed between starting a process and writing its pid file. Only session leaders count, so
    a shell or `tail -f` that merely mentions the state folder is never touched.
    """
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields is None or fields[0] in ("Z", "X") or int(fields[3]) != pid:
            continue  # field 6 is the session id
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker in cmdline:
            found.append(pid)
    return found


def as_running(pid: int, log: Path) -> RunningProcess | None:
    """A process found without a pid file, named after its executable."""
    ticks = _start_ticks(pid)
    if ticks is None:
        return None
    try:
        program = Path(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()).name
    except (FileNotFoundError, ProcessLookupError):
        program = "process"
    return RunningProcess(f"{program} (pid {pid})", pid, ticks, log)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def rss_bytes(pid: int) -> int:
    """Resident memory of one process (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that nothing listens on right now.

    All sockets stay bound until every port is picked, so the kernel cannot hand out one port
    twice. Each port is released before its component binds it, so another program could take
    it in between; the component then fails to start and the error shows its log saying so.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
