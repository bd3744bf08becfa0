"""``python -m convotic_sdk run <module.py> [--attr NAME]``: runs a module file under the
supervisor (see :mod:`convotic_sdk.loader` for the convention).

``python -m convotic_sdk init|dev|deploy ...``: the author's commands, forwarded to the Convotic
supervisor binary (``CONVOTIC_SUPERVISOR``, or ``convotic-supervisor`` on ``PATH``): ``init NAME``
writes a Python module package (unless ``--lang`` says otherwise), ``dev [DIR]`` runs it with hot
reload, ``deploy --workspace WS [DIR]`` ships it. Exit 127 when the binary is missing.

Exit codes: 0 after a graceful stop; 2 when started by hand (``CONVOTIC_PLUGIN_SOCKET`` not
set) or with bad arguments; 78 when the file cannot be loaded or defines no module (a
configuration problem the supervisor will not restart); 1 on any other failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import traceback

from . import _log
from .loader import ModuleLoadError, load_module
from .server import EXIT_DO_NOT_RESTART, limit_malloc_arenas, run, started_by_supervisor, usage_line


#: The commands forwarded to the supervisor binary.
AUTHOR_COMMANDS = ("init", "dev", "deploy")


def supervisor_args(argv: list[str]) -> list[str]:
    """The supervisor's arguments for ``init``, ``dev`` or ``deploy`` (``init`` defaults to Python)."""
    command, rest = argv[0], list(argv[1:])
    if command == "init" and "--lang" not in rest:
        rest += ["--lang", "python"]
    return [command, *rest]


def find_supervisor(env: dict[str, str] | None = None) -> str | None:
    """The supervisor binary: ``CONVOTIC_SUPERVISOR``, or ``convotic-supervisor`` on ``PATH``."""
    env = os.environ if env is None else env
    given = env.get("CONVOTIC_SUPERVISOR")
    if given:
        return given if os.path.isfile(given) and os.access(given, os.X_OK) else None
    return shutil.which("convotic-supervisor", path=env.get("PATH", ""))


def forward(argv: list[str]) -> int:
    """Runs an author command through the supervisor binary; its exit code."""
    supervisor = find_supervisor()
    if supervisor is None:
        print(
            "error: the Convotic supervisor (convotic-supervisor) was not found: put it on PATH, or set "
            "CONVOTIC_SUPERVISOR=/path/to/convotic-supervisor (build it from the Convotic checkout with "
            "`cargo build --release -p convotic-supervisor`)",
            file=sys.stderr,
        )
        return 127
    try:
        return subprocess.call([supervisor, *supervisor_args(argv)])
    except KeyboardInterrupt:
        return 130


def main(argv: list[str] | None = None) -> int:
    """The command line; returns an exit code (``run`` exits the process itself)."""
    sys.dont_write_bytecode = True
    args_in = sys.argv[1:] if argv is None else argv
    if args_in and args_in[0] in AUTHOR_COMMANDS:
        return forward(args_in)
    parser = argparse.ArgumentParser(
        prog="python -m convotic_sdk",
        description="Run a Convotic Custom Module written with convotic_sdk.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve a module file (started by the supervisor)")
    run_parser.add_argument("path", help="the module file (or a directory holding module.py)")
    run_parser.add_argument("--attr", default=None, help="name of the Module object (default: module)")
    args = parser.parse_args(args_in)

    if not started_by_supervisor():
        print(usage_line(args.path), file=sys.stderr)
        return 2
    limit_malloc_arenas()
    try:
        module = load_module(args.path, args.attr)
    except (ModuleLoadError, SyntaxError, ImportError) as err:
        _log.emit(
            "error",
            f"cannot load {args.path}: {type(err).__name__}: {err}",
            {"traceback": traceback.format_exc()} if not isinstance(err, ModuleLoadError) else None,
        )
        return EXIT_DO_NOT_RESTART
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - report, then crash (restarted per policy)
        _log.emit(
            "error",
            f"{args.path} failed while loading: {type(err).__name__}: {err}",
            {"traceback": traceback.format_exc()},
        )
        return 1
    run(module)
    return 0  # not reached: run() exits


if __name__ == "__main__":
    sys.exit(main())
