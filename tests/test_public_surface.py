"""The library's public surface: each public module and package says what it exports
(``__all__``), and each name it lists exists (issue 15, item 8)."""

import importlib
import pkgutil

import pytest

import daisee_lab

# Modules a user imports directly; the modules inside chain/, classroom/, plots/, settlement/
# and exercises/ are reached through their package, whose __init__ lists them.
TOP = sorted(m.name for m in pkgutil.iter_modules(daisee_lab.__path__, "daisee_lab.")
             if m.name != "daisee_lab.cli")


@pytest.mark.parametrize("name", TOP)
def test_a_public_module_lists_what_it_exports_and_each_name_exists(name):
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    assert sorted(set(module.__all__)) == sorted(module.__all__), f"{name}: a name twice"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"
