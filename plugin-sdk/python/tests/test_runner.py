"""``python -m convotic_sdk run <module.py>`` as a real process: started by hand it prints one
line and exits 2; with the supervisor's environment it serves the module, and after
``Shutdown`` (or SIGTERM) it exits 0; a file without a module exits 78."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import grpc
import pytest
from conftest import SDK_DIR
from harness import TOKEN, async_test, wait_for_socket

from convotic_sdk._pb import plugin, plugin_grpc

MODULE = textwrap.dedent(
    """
    from convotic_sdk import Module, RouteResponse
    import helper  # a sibling file: the module's directory is on sys.path

    module = Module("runner-test", "1.0.0")

    @module.route("GET", "/hi")
    async def hi(req, ctx):
        return RouteResponse(200, {"hi": helper.NAME})
    """
)


def python_path() -> str:
    import grpc as grpc_pkg

    deps = Path(grpc_pkg.__file__).resolve().parents[1]
    return os.pathsep.join([str(SDK_DIR / "src"), str(deps)])


def write_module(directory: Path, text: str = MODULE) -> Path:
    (directory / "helper.py").write_text('NAME = "helper"\n')
    path = directory / "module.py"
    path.write_text(text)
    return path


def base_env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": python_path(),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def supervisor_env(sock_dir: Path) -> dict[str, str]:
    return {
        **base_env(),
        "HOME": str(sock_dir),
        "CONVOTIC_PLUGIN_SOCKET": str(sock_dir / "plugin.sock"),
        "CONVOTIC_HOST_SOCKET": str(sock_dir / "host.sock"),
        "CONVOTIC_PLUGIN_TOKEN": TOKEN,
        "CONVOTIC_PLUGIN_PROTOCOL_VERSIONS": "1",
        "CONVOTIC_WORKSPACE": "ws_test",
        "CONVOTIC_MODULE": "runner-test",
        "CONVOTIC_INSTANCE": "i1",
        "CONVOTIC_DATA_DIR": str(sock_dir),
    }


def test_started_by_hand_prints_one_line_and_exits_2(sock_dir: Path) -> None:
    path = write_module(sock_dir)
    result = subprocess.run(
        [sys.executable, "-m", "convotic_sdk", "run", str(path)],
        env=base_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "this is a Convotic module" in lines[0] and "CONVOTIC_PLUGIN_SOCKET" in lines[0]


def test_a_file_without_a_module_exits_78(sock_dir: Path) -> None:
    path = write_module(sock_dir, "x = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "convotic_sdk", "run", str(path)],
        env=supervisor_env(sock_dir), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 78, result.stderr
    assert "defines no Module object" in result.stderr


async def _describe(sock: Path) -> plugin.DescribeResponse:
    async with grpc.aio.insecure_channel("unix:" + str(sock)) as channel:
        stub = plugin_grpc.PluginStub(channel)
        return await stub.Describe(plugin.DescribeRequest(protocol_versions=[1]), timeout=10)


@pytest.mark.parametrize("stop", ["shutdown", "sigterm"])
@async_test(timeout=60)
async def test_serves_then_exits_0(sock_dir: Path, stop: str) -> None:
    path = write_module(sock_dir)
    sock = sock_dir / "plugin.sock"
    sock.write_text("stale")  # a stale file at the socket path is removed first
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "convotic_sdk", "run", str(path),
        env=supervisor_env(sock_dir), cwd=str(sock_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(1000):
            if sock.is_socket():
                break
            await asyncio.sleep(0.01)
        await wait_for_socket(sock)
        described = await _describe(sock)
        assert described.manifest.name == "runner-test"
        assert described.manifest.sdk.language == "python"
        if stop == "shutdown":
            async with grpc.aio.insecure_channel("unix:" + str(sock)) as channel:
                response = await plugin_grpc.PluginStub(channel).Shutdown(
                    plugin.ShutdownRequest(grace_ms=1000, reason="test"), timeout=10
                )
            assert response.abandoned == 0
        else:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
        stderr = (await process.stderr.read()).decode()  # type: ignore[union-attr]
        assert code == 0, stderr
        assert TOKEN not in stderr
        assert '"msg": "serving"' in stderr and '"msg": "stopped"' in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
