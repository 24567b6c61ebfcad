"""``hub serve`` and ``hub worker`` as real child processes, for tests that kill, cut off or measure
a whole process (``tests/live.py`` serves the hub inside the test's own event loop instead).

    env = hub_env(database_url, tmp_path, **SERVE_ENV, REDIS_URL=redis.url)
    hub = HubProcess.serve(env, tmp_path / "hub.log")
    try:
        await hub.wait_ready()             # GET /readyz answers 200
        ...                                # hub.ws_url, hub.process (a Popen)
    finally:
        hub.stop()                         # SIGTERM, then SIGKILL after a grace period
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.helpers import eventually, free_port

ROOT = Path(__file__).resolve().parents[1]

# What every test ``hub serve`` runs with: the schema migrated by the test, jobs left to a worker.
SERVE_ENV: dict[str, str] = {
    "HUB_AUTO_MIGRATE": "false",
    "HUB_EMBEDDED_WORKER": "false",
    "HUB_ENVIRONMENT": "test",
    "HUB_LOG_LEVEL": "WARNING",
    "HUB_GRACEFUL_SHUTDOWN_SECONDS": "3",
}


def hub_env(database_url: str, data_dir: Path, **variables: str) -> dict[str, str]:
    """This process's environment, a database, a data directory (media in ``media/``) and
    plain-text logs, then ``variables``."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "HUB_DATA_DIR": str(data_dir),
        "HUB_MEDIA_DIR": str(data_dir / "media"),
        "HUB_LOG_JSON": "false",
        **variables,
    }


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``timeout`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


class HubProcess:
    """One ``hub`` command whose output goes to ``log``."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], log: Path, port: int | None = None
    ) -> None:
        self.port = port
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", *args],
            cwd=ROOT,
            env=dict(env),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    @classmethod
    def serve(cls, env: Mapping[str, str], log: Path, port: int | None = None) -> HubProcess:
        """``hub serve`` on ``port`` (a free one when not given)."""
        port = port or free_port()
        return cls(["serve", "--port", str(port)], env, log, port)

    @classmethod
    def worker(cls, env: Mapping[str, str], log: Path) -> HubProcess:
        return cls(["worker"], env, log)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def wait_ready(self) -> None:
        """Waits until ``/readyz`` answers 200; fails with the log if the process exits first."""

        async def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"hub exited early:\n{self.log.read_text()}")
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"{self.http_url}/readyz")
                    return response.status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=30, interval=0.1, message="hub process ready")

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)
        self._log_file.close()
