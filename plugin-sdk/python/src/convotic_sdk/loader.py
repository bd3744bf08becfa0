"""Loading a module file for ``python -m convotic_sdk run <module.py>``.

Convention: the file defines a :class:`~convotic_sdk.Module` at top level, named ``module``
(``module = Module("orders", "1.0.0")``). Another name can be given with ``--attr NAME``; when
there is no ``module`` attribute, the file's only ``Module`` instance is used. The file's
directory is put first on ``sys.path``, so it can import its sibling files. A directory is
accepted too: its ``module.py`` is loaded.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .module import Module

__all__ = ["ModuleLoadError", "resolve_path", "load_module"]

#: The attribute looked up by default.
DEFAULT_ATTRIBUTE = "module"


class ModuleLoadError(Exception):
    """The file cannot be loaded or defines no module object (a configuration problem)."""


def resolve_path(target: str) -> Path:
    """The module file named by ``target`` (a ``.py`` file, or a directory holding
    ``module.py``)."""
    path = Path(target)
    if path.is_dir():
        path = path / "module.py"
    if not path.is_file():
        raise ModuleLoadError(f"no module file at {path}")
    return path.resolve()


def _import_file(path: Path) -> ModuleType:
    name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else "convotic_module"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ModuleLoadError(f"cannot load {path} as Python code")
    code = importlib.util.module_from_spec(spec)
    sys.modules[name] = code
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec.loader.exec_module(code)
    return code


def load_module(target: str, attribute: str | None = None) -> Module:
    """Imports the module file and returns its :class:`Module` object. Errors in the file
    propagate; a missing object raises :class:`ModuleLoadError`."""
    path = resolve_path(target)
    code = _import_file(path)
    if attribute is not None:
        found = getattr(code, attribute, None)
        if not isinstance(found, Module):
            raise ModuleLoadError(f"{path} has no Module object named {attribute!r}")
        return found
    found = getattr(code, DEFAULT_ATTRIBUTE, None)
    if isinstance(found, Module):
        return found
    candidates = {id(v): v for v in vars(code).values() if isinstance(v, Module)}
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        raise ModuleLoadError(
            f"{path} defines no Module object: define one at top level, e.g. "
            f'module = Module("my-module", "1.0.0")'
        )
    raise ModuleLoadError(
        f"{path} defines several Module objects and none is named {DEFAULT_ATTRIBUTE!r}: "
        "name the one to run with --attr NAME"
    )
