"""Processes started detached, recorded in ``run_dir/state.json``, and stopped by that record only.

A record holds the pid and the process's start time (``/proc/<pid>/stat``, field 22), so a
recycled pid that now belongs to something else is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "state.json"


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    started: str  # the start time the kernel reports; "" where /proc is absent
    log: str
    port: int | None = None

    @property
    def alive(self) -> bool:
        """Running, and still the process we started (not a recycled pid)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False  # someone else's process now
        if _zombie(self.pid):
            return False
        return not self.started or _start_time(self.pid) == self.started


def _stat_fields(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return raw[raw.rfind(")") + 2 :].split()


def _start_time(pid: int) -> str:
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of the whole line


def _zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] == "Z"


def spawn(
    name: str, args: Sequence[str], env: Mapping[str, str], run_dir: Path, port: int | None = None
) -> ProcessRecord:
    """Starts ``args`` in a session of its own (it outlives ``make scale`` and a Ctrl-C in that
    terminal), its output appended to ``run_dir/<name>.log``."""
    log = run_dir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(args),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ProcessRecord(name, process.pid, _start_time(process.pid), str(log), port)


def save(run_dir: Path, records: Sequence[ProcessRecord], **extra: object) -> None:
    state = {"processes": [asdict(r) for r in records], **extra}
    path = run_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def load(run_dir: Path) -> tuple[list[ProcessRecord], dict[str, object]]:
    """The records and the other fields of the state file; nothing when there is none."""
    path = run_dir / STATE_FILE
    if not path.exists():
        return [], {}
    state = json.loads(path.read_text())
    records = [ProcessRecord(**entry) for entry in state.pop("processes")]
    return records, state


def signal_record(record: ProcessRecord, signum: int) -> bool:
    """Sends ``signum`` to the recorded process if it is still ours; True if it was sent."""
    if not record.alive:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signum)
        return True
    return False


def wait_gone(records: Sequence[ProcessRecord], timeout: float) -> list[ProcessRecord]:
    """Waits until none of ``records`` is alive; returns those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        _reap(records)
        left = [r for r in records if r.alive]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _reap(records: Sequence[ProcessRecord]) -> None:
    """Collects those of ``records`` that exited and are children of this process (``up`` then
    ``down`` in one process, as the tests do), which would otherwise stay zombies. Only these
    pids: waiting on any child would steal other children's exit codes."""
    for record in records:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, os.WNOHANG)


def stop(records: Sequence[ProcessRecord], grace: float) -> list[ProcessRecord]:
    """SIGTERM (graceful: web processes drain their sockets, workers hand their jobs back),
    then SIGKILL for what is still alive after ``grace`` seconds. Returns what was killed."""
    sent = [r for r in records if signal_record(r, signal.SIGTERM)]
    stubborn = wait_gone(sent, grace)
    for record in stubborn:
        signal_record(record, signal.SIGKILL)
    wait_gone(stubborn, 5)
    return stubborn
