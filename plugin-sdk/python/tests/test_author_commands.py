"""``python -m convotic_sdk init|dev|deploy``: forwarded to the supervisor binary, with ``init``
defaulting to Python, and a clear error (exit 127) when the binary is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from convotic_sdk.__main__ import find_supervisor, supervisor_args

SRC = Path(__file__).resolve().parents[1] / "src"


def test_arguments_are_forwarded_with_python_as_the_default_language() -> None:
    assert supervisor_args(["init", "my-module"]) == ["init", "my-module", "--lang", "python"]
    assert supervisor_args(["init", "m", "--lang", "rust"]) == ["init", "m", "--lang", "rust"]
    assert supervisor_args(["dev", "--port", "9000"]) == ["dev", "--port", "9000"]
    assert supervisor_args(["deploy", "--workspace", "ws_abc123"]) == ["deploy", "--workspace", "ws_abc123"]


def _run(args: list[str], path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-m", "convotic_sdk", *args], env=env, capture_output=True, text=True)


def test_the_binary_is_found_on_path_or_its_absence_explained(tmp_path: Path) -> None:
    fake = tmp_path / "convotic-supervisor"
    fake.write_text('#!/bin/sh\necho "fake $@"\n')
    fake.chmod(0o755)
    assert find_supervisor({"PATH": str(tmp_path)}) == str(fake)
    assert find_supervisor({"CONVOTIC_SUPERVISOR": str(fake), "PATH": ""}) == str(fake)
    assert find_supervisor({"PATH": "/nonexistent"}) is None

    ran = _run(["init", "my-module"], str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "fake init my-module --lang python"
    absent = _run(["dev"], "/nonexistent")
    assert absent.returncode == 127
    assert "CONVOTIC_SUPERVISOR" in absent.stderr
