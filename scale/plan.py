"""What to start: the counts, the ports, the services, and each hub process's environment."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# moto accepts any credentials; these only have to be the same in every process.
S3_ACCESS_KEY = "scale-access-key"
S3_SECRET_KEY = "scale-secret-key"  # noqa: S105 - moto's, not a secret
S3_BUCKET = "hub-media"


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Plan:
    """One topology. ``database_url`` and ``redis_url`` are what the hub processes use (a test
    may point them at a fault proxy); ``s3_endpoint_url`` likewise, when empty the processes
    talk to moto directly."""

    run_dir: Path
    database_url: str
    redis_url: str
    port: int = 8080
    web: int = 3
    workers: int = 2
    redis_key_prefix: str = "hub-scale:"
    moto_port: int = field(default_factory=free_port)
    s3_endpoint_url: str = ""
    web_ports: tuple[int, ...] = ()
    migrate: bool = True
    python: str = sys.executable
    nginx: str = "nginx"
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    def ports_for_web(self) -> tuple[int, ...]:
        """The web processes' ports: the given ones, else free ones picked now."""
        if self.web_ports:
            if len(self.web_ports) != self.web:
                raise ValueError(f"{self.web} web processes but {len(self.web_ports)} ports")
            return self.web_ports
        return tuple(free_port() for _ in range(self.web))


def secret_key(run_dir: Path) -> str:
    """One signing key for every process of the run, kept in the run directory: tokens signed
    by one web process must verify on the others, and after a restart of the topology."""
    path = run_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def hub_env(plan: Plan, key: str) -> dict[str, str]:
    """The environment shared by every ``hub`` process of ``plan`` (README, "Scaled mode"):
    one database, Redis, bucket, public URL and secret key; no embedded worker and no
    migration at start-up (``up`` migrates once, before starting them)."""
    return {**os.environ, **hub_variables(plan, key)}


def hub_variables(plan: Plan, key: str) -> dict[str, str]:
    """The variables of :func:`hub_env` that the plan sets (kept in the run directory, so that
    a process restarted later gets the same ones)."""
    data_dir = plan.run_dir / "data"
    return {
        "DATABASE_URL": plan.database_url,
        "REDIS_URL": plan.redis_url,
        "HUB_REDIS_KEY_PREFIX": plan.redis_key_prefix,
        "HUB_PUBLIC_URL": plan.url,
        "HUB_SECRET_KEY": key,
        "HUB_ENVIRONMENT": "production",
        "HUB_AUTO_MIGRATE": "false",
        "HUB_EMBEDDED_WORKER": "false",
        "HUB_DATA_DIR": str(data_dir),
        "HUB_S3_BUCKET": S3_BUCKET,
        "HUB_S3_ENDPOINT_URL": plan.s3_endpoint_url or plan.moto_url,
        "HUB_S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "HUB_S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        "HUB_LOG_JSON": "false",
        # Trust X-Forwarded-For from nginx only, which connects from loopback.
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        **plan.env,
    }
