"""The committed generated code is up to date, and the repository's Python modules (the
conformance module and the example) load and describe themselves as their documents say."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import REPO_DIR

from convotic_sdk.loader import ModuleLoadError, load_module
from convotic_sdk.manifest import build_manifest, missing_handlers


def test_generated_code_is_up_to_date() -> None:
    pytest.importorskip("grpc_tools")
    from convotic_sdk._codegen import stale_files

    assert stale_files() == []


def test_conformance_module_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFORMANCE_BREAK", raising=False)
    module = load_module(str(REPO_DIR / "tests/conformance/python/module.py"))
    m = build_manifest(module)
    assert (m.name, m.version) == ("conformance", "1.0.0")
    assert len(m.routes) >= 10 and len(m.workers) == 1 and len(m.nodes) == 1
    assert len(m.blocks) == 1 and len(m.crons) == 1
    slow = next(r for r in m.routes if r.path == "/slow/:ms")
    assert slow.timeout_ms == 1000
    assert missing_handlers(module) == []


def test_example_module_manifest() -> None:
    module = load_module(str(REPO_DIR / "plugins-example/python-example"))
    m = build_manifest(module)
    assert m.routes and m.workers and m.nodes and m.crons
    assert missing_handlers(module) == []


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(ModuleLoadError, match="no module file"):
        load_module(str(tmp_path / "missing.py"))
    two = tmp_path / "two.py"
    two.write_text("from convotic_sdk import Module\na = Module('a', '1')\nb = Module('b', '1')\n")
    with pytest.raises(ModuleLoadError, match="--attr"):
        load_module(str(two))
    assert load_module(str(two), "b").name == "b"
    assert os.path.isdir(tmp_path)
