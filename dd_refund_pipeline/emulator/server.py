"""Run the emulator: in a background thread (tests, demos) or as the main process (CLI)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime
from types import TracebackType

import uvicorn

from dd_refund_pipeline.emulator.app import build_app
from dd_refund_pipeline.emulator.state import EmulatorConfig, EmulatorState


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmulatorServer:
    """An emulator listening on ``host:port`` from a daemon thread; use as a context manager.

    ``state`` is the live emulator state: tests read its ground truth and statistics and
    change its faults while the client runs.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        as_of: datetime | None = None,
    ) -> None:
        self.state = EmulatorState(config or EmulatorConfig(), as_of)
        self.host = host
        self.port = port or _free_port(host)
        self._server = uvicorn.Server(
            uvicorn.Config(
                build_app(self.state),
                host=host,
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=1,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Where the emulator listens (``http://127.0.0.1:<port>``)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Start serving in a background thread; returns once it answers."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve()), name="yida-emulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"emulator did not start on {self.base_url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
