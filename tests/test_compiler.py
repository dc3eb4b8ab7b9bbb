"""The Solidity toolchain: which compiler is found, caching, and compile errors."""

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from daisee_lab.chain import compiler
from daisee_lab.chain.compiler import (SOLC_VERSION, CompilerError, collect_sources,
                                       compile_contracts, find_solc)

pytestmark = pytest.mark.slow  # runs solc and builds the wheel

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"


def fake_native_solc(path: Path, version: str = SOLC_VERSION) -> Path:
    """A `solc` executable that answers --version like the native binary and compiles standard
    JSON through solc-js: it proves the native code path end to end without a native build."""
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        if [ "$1" = "--version" ]; then
          echo "solc, the solidity compiler commandline interface"
          echo "Version: {version}+commit.73712a01.Linux.g++"
          exit 0
        fi
        exec node {compiler._NODE_SCRIPT} {NODE_MODULES / 'solc'}
        """))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def no_install(monkeypatch, tmp_path):
    """An empty py-solc-x install folder and an install_solc that cannot reach its site."""
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(tmp_path / "solcx"))
    (tmp_path / "solcx").mkdir()

    def unreachable(version, **kwargs):
        raise ConnectionError("binaries.soliditylang.org unreachable")

    monkeypatch.setattr("solcx.install_solc", unreachable)


def test_solcx_install_folder_comes_first(no_install, tmp_path, monkeypatch):
    installed = fake_native_solc(tmp_path / "solcx" / f"solc-v{SOLC_VERSION}")
    on_path = tmp_path / "bin"
    on_path.mkdir()
    fake_native_solc(on_path / "solc")
    monkeypatch.setenv("PATH", f"{on_path}{os.pathsep}{os.environ['PATH']}")
    solc = find_solc()
    assert (solc.kind, solc.command[0]) == ("native", str(installed))


def test_solc_on_path_of_the_pinned_version_is_used(no_install, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    fake = fake_native_solc(tmp_path / "bin" / "solc")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    solc = find_solc()
    assert (solc.kind, solc.command) == ("native", [str(fake), "--standard-json"])
    artifacts = compile_contracts(solc=solc, cache=tmp_path / "cache")
    assert solc.invocations == 1 and artifacts["EnergyCredit"][0].bytecode


def test_solc_on_path_of_another_version_is_skipped(no_install, tmp_path, monkeypatch):
    (tmp_path / "bin").mkdir()
    fake_native_solc(tmp_path / "bin" / "solc", version="0.8.19")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert find_solc().kind == "solcjs"


def test_install_solc_is_tried_before_solcjs(monkeypatch, tmp_path):
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(tmp_path))
    monkeypatch.setenv("PATH", os.environ["PATH"].replace("/usr/local/bin", "/nonexistent"))
    asked = []

    def install(version, **kwargs):
        asked.append(version)
        return fake_native_solc(tmp_path / f"solc-v{version}")

    monkeypatch.setattr("solcx.install_solc", install)
    solc = find_solc()
    assert asked == [SOLC_VERSION] and solc.kind == "native"


def test_solcjs_is_the_last_resort(no_install):
    solc = find_solc()
    assert solc.kind == "solcjs"
    assert solc.command[1].endswith("solc_compile.js")
    assert Path(solc.command[2]) == NODE_MODULES / "solc"


def test_no_compiler_at_all_says_what_to_install(tmp_path):
    """Empty PATH (no node, no solc), no installed binaries, network cut by a dead proxy."""
    env = {"PATH": "", "HOME": str(tmp_path), "SOLCX_BINARY_PATH": str(tmp_path),
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
           "DAISEE_CACHE_DIR": str(tmp_path / "cache")}
    code = ("from daisee_lab.chain.compiler import find_solc, CompilerNotFound\n"
            "try:\n    find_solc()\nexcept CompilerNotFound as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    message = done.stdout
    assert f"no Solidity compiler {SOLC_VERSION} could be had" in message, done.stderr
    assert "node is not on PATH" in message
    assert f"install_solc('{SOLC_VERSION}') failed" in message
    assert f"npm install solc@{SOLC_VERSION}" in message


def test_unchanged_sources_compile_once(tmp_path):
    root = tmp_path / "src"
    root.mkdir()
    (root / "A.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
                                "contract A { function f() external pure returns (uint) "
                                "{ return 1; } }\n")
    solc = find_solc()
    first = compile_contracts({"src": root}, solc=solc, cache=tmp_path / "cache")
    second = compile_contracts({"src": root}, solc=solc, cache=tmp_path / "cache")
    assert solc.invocations == 1
    assert first == second and first["A"][0].bytecode
    (root / "A.sol").write_text((root / "A.sol").read_text().replace("return 1", "return 2"))
    third = compile_contracts({"src": root}, solc=solc, cache=tmp_path / "cache")
    assert solc.invocations == 2 and third["A"][0].bytecode != first["A"][0].bytecode


def test_compile_error_carries_file_line_and_message(tmp_path):
    root = tmp_path / "broken"
    root.mkdir()
    (root / "Broken.sol").write_text("// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\n"
                                     "contract Broken {\n    function f() external {\n"
                                     "        undefinedThing = 3;\n    }\n}\n")
    with pytest.raises(CompilerError) as caught:
        compile_contracts({"broken": root}, cache=tmp_path / "cache")
    message = str(caught.value)
    assert "broken/Broken.sol:5:9:" in message
    assert "Undeclared identifier" in message


def test_imports_are_resolved_from_node_modules_and_relative_paths():
    sources = collect_sources({"contracts": compiler.contracts_dir()})
    assert "contracts/EnergyCredit.sol" in sources
    assert "@openzeppelin/contracts/token/ERC20/ERC20.sol" in sources
    # ERC20.sol imports "./IERC20.sol": resolved relative to its own unit name
    assert "@openzeppelin/contracts/token/ERC20/IERC20.sol" in sources


def test_missing_import_names_the_importer(tmp_path):
    (tmp_path / "A.sol").write_text('import "@nowhere/pkg/X.sol";\ncontract A {}\n')
    with pytest.raises(CompilerError, match=r"@nowhere/pkg/X.sol.*imported by src/A.sol"):
        collect_sources({"src": tmp_path})


def test_wheel_ships_the_contracts(tmp_path):
    """Installed from a wheel, the library finds its Solidity sources inside the package."""
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(tmp_path / "dist"), str(REPO)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("daisee_lab-*.whl")
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                                "--target", str(tmp_path / "site"), str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr[-2000:]
    code = ("from daisee_lab.chain.compiler import contracts_dir; d = contracts_dir(); "
            "print(d); print(sorted(p.name for p in d.glob('*.sol')))")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(tmp_path / "site")},
                           cwd=tmp_path)
    where, names = shown.stdout.splitlines()
    assert Path(where) == tmp_path / "site" / "daisee_lab" / "solidity"
    assert "EnergyCredit.sol" in names
