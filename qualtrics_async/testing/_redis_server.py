"""`RedisServer`: a throwaway ``redis-server`` on loopback, for tests of the shared limiter.

It runs the real server binary (Debian's ``redis-server`` package, or any on ``PATH``)
with no persistence, on a free loopback port, and can be stopped and started again on the
same port to test an outage::

    with RedisServer() as server:
        limiter = RedisRateLimiter(server.url, namespace="my-brand")
        ...
        server.stop()     # Redis goes away mid-run
        server.start()    # and comes back, empty
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"


def find_redis_server() -> str | None:
    """The path of the ``redis-server`` binary, or ``None`` when it is not installed."""
    return shutil.which("redis-server")


def _free_port(*, cluster: bool = False) -> int:
    """A free loopback port; for a Cluster node one at most 55535 whose bus port (+10000) is free too."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port: int = sock.getsockname()[1]
        if not cluster:
            return port
        if port <= 55535:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bus:
                try:
                    bus.bind((LOOPBACK, port + 10000))
                except OSError:
                    continue
            return port


def _pong(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``redis-server`` child process on ``127.0.0.1`` (no disk persistence).

    Args:
        port: the port to listen on (default: a free one, kept across restarts).
        executable: the server binary (default: ``redis-server`` on ``PATH``).
        args: more ``redis-server`` options, e.g. ``["--cluster-enabled", "yes"]``.

    Raises:
        FileNotFoundError: on :meth:`start` when no binary is found (install Debian's
            ``redis-server`` package).
    """

    def __init__(self, *, port: int | None = None, executable: str | None = None, args: Sequence[str] = ()) -> None:
        self._args = list(args)
        self.port = port if port is not None else _free_port(cluster="--cluster-enabled" in self._args)
        self._executable = executable
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers ``PING``."""
        if self.running:
            return
        executable = self._executable or find_redis_server()
        if executable is None:
            raise FileNotFoundError("redis-server is not installed: apt-get install redis-server (Debian/Ubuntu)")
        argv = [
            executable,
            "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning", "--logfile", "", *self._args,
        ]  # fmt: skip
        # Its log (warnings only) goes to a pipe read only if it fails to start.
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
        deadline = time.monotonic() + timeout
        while not _pong(self.port):
            if self._process.poll() is not None:
                process, self._process = self._process, None
                assert process.stdout is not None
                with process.stdout:
                    said = process.stdout.read().decode(errors="replace").strip()
                raise RuntimeError(f"redis-server exited at start (port {self.port}): {said[-500:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer PING on port {self.port} within {timeout:g} s")
            time.sleep(0.02)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and nothing answers, as with a hung Redis."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Let a paused server go on (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the server (its data is gone: nothing is persisted)."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # a paused server would not act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
