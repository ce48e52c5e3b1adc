"""The emulator in a process of its own, driven over stdin: one JSON line answers each command.

The benchmarks keep the server off the client's GIL. Each benchmark passes its own server script
(which seeds the emulator, prints ``{"url", "token"}``, then answers commands line by line).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


class EmulatorProcess:
    """``with EmulatorProcess(script, *args) as server:`` -> ``server.url``, ``server.token``, ``server.ask``."""

    def __init__(self, script: str, *args: object) -> None:
        self.args = [sys.executable, "-c", script, *(str(arg) for arg in args)]

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = json.loads(self._line())
        self.url, self.token = hello["url"], hello["token"]
        return self

    def _line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline()

    def ask(self, command: str) -> dict[str, Any]:
        """Send one command line; the server's JSON answer."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self._line())  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
