"""``python -m convotic_sdk run <module.py> [--attr NAME]``: runs a module file under the
supervisor (see :mod:`convotic_sdk.loader` for the convention).

Exit codes: 0 after a graceful stop; 2 when started by hand (``CONVOTIC_PLUGIN_SOCKET`` not
set) or with bad arguments; 78 when the file cannot be loaded or defines no module (a
configuration problem the supervisor will not restart); 1 on any other failure.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from . import _log
from .loader import ModuleLoadError, load_module
from .server import EXIT_DO_NOT_RESTART, limit_malloc_arenas, run, started_by_supervisor, usage_line


def main(argv: list[str] | None = None) -> int:
    """The command line; returns an exit code (``run`` exits the process itself)."""
    sys.dont_write_bytecode = True
    parser = argparse.ArgumentParser(
        prog="python -m convotic_sdk",
        description="Run a Convotic Custom Module written with convotic_sdk.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="serve a module file (started by the supervisor)")
    run_parser.add_argument("path", help="the module file (or a directory holding module.py)")
    run_parser.add_argument("--attr", default=None, help="name of the Module object (default: module)")
    args = parser.parse_args(argv)

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
