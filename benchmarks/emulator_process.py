"""The emulator in a process of its own, driven over stdin: one JSON line answers each command.

The benchmarks keep the server off the client's GIL. Each benchmark passes its own server script
(which seeds the emulator, prints ``{"url", "token"}``, then answers commands line by line).
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def server_script(setup: str) -> str:
    """A server script: ``setup`` (Python lines binding ``emu``, a started ``Emulator``, from
    ``sys.argv``), then the commands every benchmark sends: ``latency S`` sets the latency, ``stats``
    answers the requests so far (count, CPU seconds, statuses, methods) and resets the log."""
    return f"""
import json, sys, time
from collections import Counter
from incident_analytics.emulator import Emulator
{setup.strip()}
print(json.dumps({{"url": emu.url, "token": emu.token}}), flush=True)
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "latency":
        emu.latency = float(arg)
        print("{{}}", flush=True)
    elif command == "stats":
        records = emu.requests
        print(json.dumps({{"requests": len(records), "cpu": time.process_time(),
                          "statuses": Counter(str(r.status) for r in records),
                          "methods": Counter(r.method for r in records)}}), flush=True)
        emu.reset_requests()
emu.stop()
"""


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
