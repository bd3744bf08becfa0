"""Testing a module under the real supervisor: :func:`start_dev` runs ``convotic-supervisor dev``
on the package directory (a private supervisor, its data in a temporary directory, an API key)
and returns a :class:`DevSupervisor` whose methods call the module's routes, publish to its
topics, invoke its nodes and run its crons over HTTP; ``logs()`` holds the module's output for
failure messages. The supervisor binary comes from ``CONVOTIC_SUPERVISOR``, or
``convotic-supervisor`` on ``PATH``. With pytest::

    @pytest.fixture
    def dev():
        with start_dev(Path(__file__).parent) as running:
            yield running

    def test_hello(dev):
        assert dev.route("GET", "/hello/ada").body["hello"] == "ada"
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .__main__ import find_supervisor


@dataclass
class Answer:
    """An answer: its status and JSON body."""

    status: int
    body: Any


class DevSupervisor:
    """A module running under a private supervisor for a test; a context manager that stops it."""

    def __init__(self, process: subprocess.Popen[bytes], state: str, port: int, name: str, key: str) -> None:
        self._process, self._state, self.name, self.key = process, state, name, key
        self.base = f"http://127.0.0.1:{port}"

    def logs(self) -> str:
        """Everything ``dev`` printed: the module's output and lifecycle events."""
        return Path(self._state, "dev.log").read_text(errors="replace")

    def route(self, method: str, path: str, body: Any = None) -> Answer:
        """Calls the module's route (``path`` inside the module, e.g. ``"/hello/ada"``)."""
        return self._call(method, f"/v1/modules/{self.name}{path}", body)

    def publish(self, topic: str, payload: Any) -> Answer:
        """Publishes ``payload`` on ``topic`` (202 with the message id)."""
        return self._call("POST", f"/v1/topics/{topic}/messages", {"payload": payload})

    def invoke(self, node_type: str, input: Any) -> Answer:
        """Invokes node ``node_type`` with ``input`` (``output``, ``branch``)."""
        return self._call("POST", f"/v1/nodes/{node_type}/invoke", {"input": input})

    def run_cron(self, name: str) -> Answer:
        """Runs cron ``name`` now (202)."""
        return self._call("POST", f"/v1/crons/{self.name}/{name}/run")

    def _call(self, method: str, path: str, body: Any = None) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"x-api-key": self.key, "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return Answer(status, json.loads(text))
        except ValueError:
            return Answer(status, text)

    def stop(self) -> None:
        """Stops the supervisor and the module (as Ctrl-C would)."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._state, ignore_errors=True)

    def __enter__(self) -> DevSupervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_dev(directory: str | os.PathLike[str], timeout: float = 180.0) -> DevSupervisor:
    """Runs the package in ``directory`` under ``convotic-supervisor dev``; returns once it serves."""
    supervisor = find_supervisor()
    if supervisor is None:
        raise RuntimeError("convotic-supervisor was not found: put it on PATH or set CONVOTIC_SUPERVISOR")
    state = tempfile.mkdtemp(prefix="convotic-test-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(Path(state, "dev.log"), "wb")  # noqa: SIM115 - the child writes it until stopped
    process = subprocess.Popen(
        [supervisor, "dev", str(Path(directory).resolve()), "--port", str(port)],
        env={**os.environ, "XDG_STATE_HOME": state},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while True:
        text = Path(state, "dev.log").read_text(errors="replace")
        ready = next((line for line in text.splitlines() if "is ready at" in line), None)
        if ready is not None:
            name = ready.removeprefix("dev: ").split(" ")[0]
            key = ready.split("API key: ")[1].strip()
            return DevSupervisor(process, state, port, name, key)
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the module did not get ready:\n{text}")
        time.sleep(0.05)
