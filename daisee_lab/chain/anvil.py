"""Start and stop anvil, Foundry's JSON-RPC development node, installed from npm.

>>> with Anvil() as node:            # a free port on loopback
...     chain = Chain(node.url)
"""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import time
from pathlib import Path

from daisee_lab.chain.compiler import node_modules_dirs
from daisee_lab.errors import DaiseeError


class AnvilError(DaiseeError):
    """anvil is missing, could not start, or its port is taken."""


def find_anvil() -> str:
    """The anvil executable: the platform binary that ``make setup`` installed from npm (run
    directly, not through the package's Node wrapper, so that stopping it stops the node), else
    ``node_modules/.bin/anvil``, else ``PATH``."""
    for modules in node_modules_dirs():
        native = sorted((modules / "@foundry-rs").glob("anvil-*/bin/anvil"))
        if native:
            return str(native[0])
        candidate = modules / ".bin" / "anvil"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("anvil")
    if found:
        return found
    raise AnvilError("anvil is not installed: run `make setup` (npm ci installs "
                     "@foundry-rs/anvil) or put Foundry's anvil on PATH")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now at `host`, an address of this machine; else
    :class:`AnvilError`."""
    try:
        with socket.socket() as sock:
            sock.bind((host, 0))
            return sock.getsockname()[1]
    except socket.gaierror as exc:
        reason = f"does not resolve to an IPv4 address ({exc.strerror})"
    except OSError as exc:
        reason = ("not an address of this machine" if exc.errno == errno.EADDRNOTAVAIL
                  else exc.strerror or str(exc))
    raise AnvilError(f"cannot listen on {host}: {reason}: give an address of this machine "
                     "(127.0.0.1, or 0.0.0.0 for every network it is on)")


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class Anvil:
    """An anvil process on `host`:`port` (default loopback, a free port) with `accounts` funded
    development accounts (the same mnemonic as :class:`~daisee_lab.chain.Chain`'s)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", accounts: int = 10,
                 log: Path | None = None):
        self.host, self.accounts, self.log = host, accounts, log
        self.port = port or free_port(host)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The node's JSON-RPC address."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> Anvil:
        """Start anvil and wait until it answers; raise :class:`AnvilError` if it cannot."""
        if _port_taken(self.host, self.port):
            raise AnvilError(f"port {self.port} on {self.host} is already taken: "
                             f"choose another with --port or stop what listens there")
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [find_anvil(), "--host", self.host, "--port", str(self.port),
             "--accounts", str(self.accounts), "--hardfork", "prague"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not _port_taken(self.host, self.port):
            if self.process.poll() is not None:
                raise AnvilError(f"anvil exited with code {self.process.returncode} on start"
                                 f"{f'; see {self.log}' if self.log else ''}")
            if time.monotonic() > deadline:
                self.stop()
                raise AnvilError(f"anvil did not answer on {self.url} within {timeout:.0f} s")
            time.sleep(0.05)
        return self

    def alive(self) -> bool:
        """True while the anvil process runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop anvil (terminate, then kill if it lingers)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
