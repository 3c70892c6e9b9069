"""A private single-node broker for a test that must stop it, or secure it: its own state dir and ports,
started and stopped with deploy/local/kafka.sh — never the shared broker on 19092."""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "local" / "kafka.sh"
SHARED_STATE = ROOT / ".local" / "kafka"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_run(count: int) -> int:
    """The first of `count` consecutive free loopback ports (outside the shared broker's 19092/19093)."""
    for _ in range(200):
        first = random.randrange(21000, 31000)
        if all(_port_free(first + i) for i in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


class PrivateBroker:
    """KAFKA_STATE_DIR/KAFKA_PORT/KAFKA_CONTROLLER_PORT of its own; `security="SASL_SSL"` with `users`
    ("name:password,...") and `mtls` makes the secured variant (docs/KAFKA-SECURITY.md)."""

    def __init__(self, state_dir: Path, *, security: str = "PLAINTEXT", users: str = "", mtls: bool = False) -> None:
        port = free_port_run(3 if mtls else 2)
        self.state_dir = state_dir
        self.port = port
        self.bootstrap = f"127.0.0.1:{port}"
        self.mtls_bootstrap = f"127.0.0.1:{port + 2}" if mtls else ""
        self.env = {**os.environ, "KAFKA_STATE_DIR": str(state_dir), "KAFKA_PORT": str(port),
                    "KAFKA_CONTROLLER_PORT": str(port + 1), "KAFKA_SECURITY": security,
                    "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m", "KAFKA_STOP_TIMEOUT": "20"}
        if users:
            self.env["KAFKA_SCRAM_USERS"] = users
        if mtls:
            self.env["KAFKA_MTLS_PORT"] = str(port + 2)
        # The classpath is the shared broker's (read-only use), as in libs/kit's broker-kill test.
        state_dir.mkdir(parents=True, exist_ok=True)
        libs = SHARED_STATE / "libs"
        if libs.exists() and not (state_dir / "libs").exists():
            (state_dir / "libs").symlink_to(libs)
            stamp = SHARED_STATE / "libs.stamp"
            if stamp.exists():
                (state_dir / "libs.stamp").write_text(stamp.read_text())

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def client_properties(self) -> Path:
        return self.state_dir / "client.properties"

    def run(self, command: str, *, timeout_s: float = 120) -> str:
        done = subprocess.run(["bash", str(KAFKA_SH), command], env=self.env, capture_output=True, text=True,
                              timeout=timeout_s)
        if done.returncode != 0:
            raise AssertionError(f"kafka.sh {command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.run("start")

    def stop(self) -> None:
        self.run("stop")
