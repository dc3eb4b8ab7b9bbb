"""One error root: every exception the library defines, and every one it raises on purpose,
is a DaiseeError, so a caller catches all of them with one ``except`` (issue 15, item 4)."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import daisee_lab
from daisee_lab.errors import DaiseeError, wrapped_errors

PACKAGE = Path(daisee_lab.__file__).parent
MODULES = sorted(m.name for m in pkgutil.walk_packages([str(PACKAGE)], "daisee_lab."))
PROTOCOL = {"__getattr__": "AttributeError", "__getitem__": "KeyError", "__next__": "StopIteration"}
BUILTIN_ERRORS = {name for name, value in vars(builtins).items()
                  if isinstance(value, type) and issubclass(value, Exception)}


@pytest.mark.parametrize("name", MODULES)
def test_every_exception_a_module_defines_is_a_daisee_error(name):
    module = importlib.import_module(name)
    defined = [cls for _, cls in inspect.getmembers(module, inspect.isclass)
               if cls.__module__ == name and issubclass(cls, BaseException)]
    strays = [cls.__name__ for cls in defined if not issubclass(cls, DaiseeError)]
    assert not strays, f"{name} defines exceptions outside DaiseeError: {strays}"


def _caught_here(node: ast.Raise, parents: dict[ast.AST, ast.AST], error: str) -> bool:
    """True if `node` sits in the body of a ``try`` (in the same function) that catches `error`
    itself: a builtin error raised only to be turned into the module's own, a line below."""
    child, parent = node, parents.get(node)
    while parent is not None and not isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                names = (handler.type.elts if isinstance(handler.type, ast.Tuple)
                         else [handler.type])
                if any(isinstance(n, ast.Name) and n.id == error for n in names):
                    return True
        child, parent = parent, parents.get(parent)
    return False


def _raised_name(node: ast.Raise) -> str | None:
    exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
    return exc.id if isinstance(exc, ast.Name) else None


def _function_of(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.FunctionDef | None:
    while node is not None and not isinstance(node, ast.FunctionDef):
        node = parents.get(node)
    return node


def _caught_by_every_caller(function: ast.FunctionDef | None, tree: ast.AST,
                            parents: dict[ast.AST, ast.AST], error: str) -> bool:
    """True for a private helper (such as dsmr._quantity) whose every call in its module sits in
    a ``try`` that catches `error`: the check moves to the call sites."""
    if function is None or not function.name.startswith("_"):
        return False
    calls = [call for call in ast.walk(tree) if isinstance(call, ast.Call)
             and isinstance(call.func, ast.Name) and call.func.id == function.name]
    return bool(calls) and all(_caught_here(call, parents, error) for call in calls)


def test_the_library_raises_no_bare_builtin_error():
    """A bare ValueError, TypeError, OSError... raised by the library is a cause the caller
    cannot tell apart from a bug; the only ones allowed are caught in the same function, or
    raised by a private helper whose every caller catches them."""
    strays = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            error = _raised_name(node) if isinstance(node, ast.Raise) and node.exc else None
            if error not in BUILTIN_ERRORS or error in ("NotImplementedError", "StopIteration"):
                continue
            function = _function_of(node, parents)
            if function is not None and PROTOCOL.get(function.name) == error:
                continue  # Python's own protocol, such as __getattr__'s AttributeError
            if _caught_here(node, parents, error) or _caught_by_every_caller(
                    function, tree, parents, error):
                continue
            strays.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} raises {error}")
    assert not strays, "\n".join(strays)


def test_wrapped_errors_walks_causes_contexts_reasons_and_arguments_once():
    """How an HTTP library hides a socket's refusal: requests' error holds urllib3's in its
    arguments, which holds the connection error as ``reason``, raised from the OS error."""
    refused = ConnectionRefusedError(111, "Connection refused")
    connection = OSError("new connection failed")
    connection.__cause__ = refused
    pool = Exception("max retries")
    pool.reason = connection
    outer = Exception(pool)
    outer.__context__ = outer  # a cycle is walked once
    assert list(wrapped_errors(outer)) == [outer, pool, connection, refused]
