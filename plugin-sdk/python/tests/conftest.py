"""Test setup: makes ``src/`` importable, and fixtures shared by the tests (a short temporary
directory for Unix sockets, whose paths must stay under 108 bytes)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

SDK_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = SDK_DIR.parents[1]
sys.dont_write_bytecode = True
if str(SDK_DIR / "src") not in sys.path:
    sys.path.insert(0, str(SDK_DIR / "src"))


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short-lived directory under /tmp for socket files."""
    directory = Path(tempfile.mkdtemp(prefix="cvt-py-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
