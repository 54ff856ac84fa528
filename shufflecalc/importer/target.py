"""A TARGET made into a model: ``torchvision:NAME``, ``pkg.module:callable`` or ``path/to/file.py:callable``.

Every way a TARGET can fail (no such file or module, a file that is not Python, a callable that raises, a result that
is no ``nn.Module``) is a `ShufflecalcError` of one line naming the TARGET.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shufflecalc.errors import ShufflecalcError, one_line
from shufflecalc.spec.load import is_target  # noqa: F401  (re-exported: TARGETs are told from specs there)

TORCHVISION = "torchvision:"


def parse_args(items: Sequence[str] | None) -> dict[str, Any]:
    """``--arg NAME=VALUE`` items as keyword arguments: VALUE is a Python literal (``10``, ``0.5``, ``True``,
    ``[1, 2]``, ``'x'``), else the text itself."""
    result: dict[str, Any] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ShufflecalcError(f"--arg {item!r}: expected NAME=VALUE (NAME a Python identifier)")
        if name in result:
            raise ShufflecalcError(f"--arg {name}=...: given twice")
        try:
            result[name] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            result[name] = text.strip()
    return result


def parse_input(text: str, option: str = "--input") -> tuple[int, int, int]:
    """``--input 3,224,224`` (or ``3x224x224``) -> (3, 224, 224)."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if len(parts) != 3 or not all(p.isdigit() and 0 < int(p) <= 65_536 for p in parts):
        raise ShufflecalcError(f"{option} {text!r}: expected C,H,W (three whole numbers from 1 to 65,536)")
    c, h, w = (int(p) for p in parts)
    return (c, h, w)


def split_target(target: str) -> tuple[str, str]:
    """``module_or_file:callable`` -> its two parts (the last colon splits them)."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise ShufflecalcError(f"{target}: a TARGET is torchvision:NAME, pkg.module:callable or "
                               "path/to/file.py:callable")
    return where, name


def load_model(target: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """The `nn.Module` TARGET names, made with `kwargs` (in eval mode)."""
    from torch import nn

    kwargs = dict(kwargs or {})
    where, name = split_target(target)
    if target.startswith(TORCHVISION):
        factory = _torchvision(target, name)
        kwargs.setdefault("weights", None)
        call = f"torchvision.models.get_model({name!r}, ...)"
    else:
        module = _module_of_file(target, where) if where.endswith(".py") or "/" in where else _module(target, where)
        factory = getattr(module, name, None)
        if factory is None:
            raise ShufflecalcError(f"{target}: {where} has no attribute '{name}'")
        if not callable(factory) and not isinstance(factory, nn.Module):
            raise ShufflecalcError(f"{target}: '{name}' is not callable (a function or class that returns an "
                                   "nn.Module)")
        call = f"{name}()"
    try:
        model = factory if isinstance(factory, nn.Module) and not kwargs else factory(**kwargs)
    except Exception as exc:
        raise ShufflecalcError(f"{target}: {call} raised {type(exc).__name__}: {one_line(str(exc))[:300]}") from None
    if not isinstance(model, nn.Module):
        raise ShufflecalcError(f"{target}: {call} returned {type(model).__name__}, not a torch nn.Module")
    return model.eval()


def _torchvision(target: str, name: str) -> Any:
    try:
        torchvision = importlib.import_module("torchvision")
    except ImportError as exc:
        raise ShufflecalcError(f"{target}: torchvision is not installed ({exc})") from None
    known = torchvision.models.list_models()
    if name not in known:
        raise ShufflecalcError(f"{target}: torchvision has no model '{name}' (torchvision.models.list_models() lists "
                               f"{len(known)})")
    return lambda **kw: torchvision.models.get_model(name, **kw)


def _module(target: str, dotted: str) -> Any:
    """The module `dotted`, looked for in the current directory too (as ``python -m`` would)."""
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        raise ShufflecalcError(f"{target}: no module named '{exc.name or dotted}'") from None
    except Exception as exc:
        raise ShufflecalcError(f"{target}: importing {dotted} raised {type(exc).__name__}: "
                               f"{one_line(str(exc))[:300]}") from None


def _module_of_file(target: str, file: str) -> Any:
    path = Path(file)
    if not path.is_file():
        raise ShufflecalcError(f"{target}: no such file {file}")
    try:
        source = path.read_bytes()
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise ShufflecalcError(f"{target}: {file} is not a Python file ({type(exc).__name__} at line {exc.lineno}: "
                               f"{exc.msg})") from None
    except (ValueError, OSError) as exc:
        raise ShufflecalcError(f"{target}: {file} cannot be read as Python ({exc})") from None
    name = f"shufflecalc_import_{zlib.crc32(str(path.resolve()).encode())}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ShufflecalcError(f"{target}: {file} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ShufflecalcError(f"{target}: running {file} raised {type(exc).__name__}: "
                               f"{one_line(str(exc))[:300]}") from None
    return module
