"""Find the project's Solidity compiler, compile standard JSON, cache the artifacts.

One solc version, :data:`SOLC_VERSION`, serves the whole project. :func:`find_solc` looks, in
order, for

1. a native ``solc`` of that version: py-solc-x's install folder, then ``PATH``;
2. py-solc-x's ``install_solc`` (works where its download site is reachable);
3. solc-js of the same version from the npm package ``solc`` (``make setup`` installs it), run
   by a small Node script that calls ``require('solc').compile``.

:func:`compile_contracts` gathers every ``.sol`` file of the given roots, resolves their imports
(``@openzeppelin/...`` from ``node_modules``), and compiles them in one standard-JSON call with
``evmVersion: prague`` and the optimizer on. Artifacts are cached on disk under a key made of
every source's text, the compiler version and the settings, so an unchanged project compiles
without starting a compiler at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from daisee_lab.errors import DaiseeError

SOLC_VERSION = "0.8.30"
SETTINGS: dict = {
    "evmVersion": "prague",
    "optimizer": {"enabled": True, "runs": 200},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.methodIdentifiers"]}},
}

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_SOURCE_TREE = _PACKAGE_DIR.parent
_NODE_SCRIPT = Path(__file__).resolve().parent / "solc_compile.js"
_IMPORT = re.compile(r"""\bimport\s+(?:[^;"']*?\bfrom\s+)?["']([^"']+)["']""")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


class CompilerError(DaiseeError):
    """The Solidity sources did not compile; the message carries solc's formatted errors."""


class CompilerNotFound(DaiseeError):
    """No solc of the pinned version could be found, installed or run."""


def contracts_dir() -> Path:
    """The folder of the project's Solidity sources: the wheel's ``daisee_lab/solidity/`` (beside
    the ``daisee_lab.contracts`` package, their Python faces), or the source tree's
    ``contracts/``."""
    packaged = _PACKAGE_DIR / "solidity"
    return packaged if packaged.is_dir() else _SOURCE_TREE / "contracts"


def node_modules_dirs() -> list[Path]:
    """Where npm packages are looked for: ``$DAISEE_NODE_MODULES``, the source tree, the cwd."""
    candidates = [os.environ.get("DAISEE_NODE_MODULES"), _SOURCE_TREE / "node_modules",
                  Path.cwd() / "node_modules"]
    return [Path(c) for c in candidates if c and Path(c).is_dir()]


def cache_dir() -> Path:
    """The artifact cache: ``$DAISEE_CACHE_DIR`` or ``~/.cache/daisee-lab/solc``."""
    env = os.environ.get("DAISEE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "daisee-lab" / "solc"


@dataclass
class Solc:
    """A runnable solc: ``kind`` is ``"native"`` or ``"solcjs"``; ``command`` reads standard JSON
    on stdin and writes standard JSON on stdout. ``invocations`` counts compiles."""

    kind: str
    version: str
    command: list[str]
    invocations: int = field(default=0, compare=False)

    def compile_standard(self, standard_input: dict) -> dict:
        """Run one standard-JSON compilation and return solc's parsed output."""
        self.invocations += 1
        try:
            done = subprocess.run(self.command, input=json.dumps(standard_input), text=True,
                                  capture_output=True, check=False)
        except OSError as exc:
            raise CompilerNotFound(f"could not run {self.command[0]}: {exc}") from exc
        try:
            return json.loads(done.stdout)
        except json.JSONDecodeError:
            raise CompilerError(
                f"{self.kind} solc {self.version} gave no JSON (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[:2000]}") from None


def _native_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"Version: (\d+\.\d+\.\d+)", out)
    return found.group(1) if found else None


def _solcx_installed(version: str) -> str | None:
    try:
        from solcx.exceptions import SolcNotInstalled
        from solcx.install import get_executable
    except ImportError:
        return None
    try:
        return str(get_executable(version))
    except (SolcNotInstalled, OSError):
        return None


def _solcjs_package(version: str) -> Path | None:
    for modules in node_modules_dirs():
        package = modules / "solc" / "package.json"
        if package.is_file() and json.loads(package.read_text()).get("version") == version:
            return package.parent
    return None


def find_solc(version: str = SOLC_VERSION, *, install: bool = True) -> Solc:
    """Return a working solc of `version`, trying native, then ``install_solc``, then solc-js.

    Raises :class:`CompilerNotFound` naming what was tried and exactly what to install.
    """
    tried: list[str] = []
    native = _solcx_installed(version)
    if native:
        return Solc("native", version, [native, "--standard-json"])
    tried.append(f"py-solc-x's install folder has no solc {version}")
    on_path = shutil.which("solc")
    if on_path and _native_version(on_path) == version:
        return Solc("native", version, [on_path, "--standard-json"])
    tried.append(f"solc on PATH: {on_path + ' is another version' if on_path else 'none'}")
    if install:
        try:
            import solcx

            return Solc("native", version, [str(solcx.install_solc(version)), "--standard-json"])
        except Exception as exc:  # noqa: BLE001 - any failure means: try the next compiler
            tried.append(f"py-solc-x install_solc({version!r}) failed: {str(exc)[:200]}")
    node = shutil.which("node")
    package = _solcjs_package(version)
    if node and package:
        return Solc("solcjs", version, [node, str(_NODE_SCRIPT), str(package)])
    tried.append("solc-js: " + ("node is not on PATH" if not node else
                                f"no node_modules/solc at version {version}"))
    raise CompilerNotFound(
        f"no Solidity compiler {version} could be had ({'; '.join(tried)}). Install one of: "
        f"`npm install solc@{version}` in the project (or run `make setup`) with Node.js on PATH; "
        f"a native solc {version} on PATH; or `python -c \"import solcx; "
        f"solcx.install_solc('{version}')\"` on a machine that can reach its download site.")


def _resolve_import(importer: str, target: str) -> str:
    if target.startswith(("./", "../")):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return target


def _read_unit(unit: str, roots: dict[str, Path]) -> str:
    for prefix, root in roots.items():
        if unit.startswith(prefix + "/"):
            path = root / unit[len(prefix) + 1:]
            if path.is_file():
                return path.read_text(encoding="utf-8")
    if unit.startswith("@"):
        for modules in node_modules_dirs():
            if (modules / unit).is_file():
                return (modules / unit).read_text(encoding="utf-8")
        raise CompilerError(f"cannot find {unit}: install its npm package (`make setup`) or set "
                            f"DAISEE_NODE_MODULES to the node_modules folder that has it")
    raise CompilerError(f"cannot find the Solidity source {unit}")


def collect_sources(roots: dict[str, Path]) -> dict[str, str]:
    """Every ``.sol`` file under each root (unit name ``prefix/relative/path``) plus all imports."""
    pending: list[tuple[str, str | None]] = []
    for prefix, root in roots.items():
        if not root.is_dir():
            raise CompilerError(f"no Solidity folder at {root}")
        pending += [(f"{prefix}/{p.relative_to(root).as_posix()}", None)
                    for p in sorted(root.rglob("*.sol"))]
    sources: dict[str, str] = {}
    while pending:
        unit, importer = pending.pop()
        if unit in sources:
            continue
        try:
            text = _read_unit(unit, roots)
        except CompilerError as exc:
            by = f" (imported by {importer})" if importer else ""
            raise CompilerError(f"{exc}{by}") from None
        sources[unit] = text
        imported = _IMPORT.findall(_COMMENT.sub("", text))
        pending += [(_resolve_import(unit, t), unit) for t in imported]
    return dict(sorted(sources.items()))


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its source unit, name, ABI and creation bytecode (hex, no 0x)."""

    unit: str
    name: str
    abi: list
    bytecode: str


def _cache_key(sources: dict[str, str]) -> str:
    blob = json.dumps([SOLC_VERSION, SETTINGS, sources], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _artifacts(output: dict) -> dict[str, list[Artifact]]:
    found: dict[str, list[Artifact]] = {}
    for unit, contracts in output.get("contracts", {}).items():
        for name, data in contracts.items():
            found.setdefault(name, []).append(
                Artifact(unit, name, data["abi"], data["evm"]["bytecode"]["object"]))
    return found


def compile_contracts(roots: dict[str, Path] | None = None, *, solc: Solc | None = None,
                      cache: Path | None = None) -> dict[str, list[Artifact]]:
    """Compile every contract under `roots` (default: the project's ``contracts/``).

    Returns contract name -> artifacts (a list: two units may define the same name). Uses the
    disk cache when nothing changed; otherwise runs `solc` (default: :func:`find_solc`).
    Raises :class:`CompilerError` with solc's formatted errors when compilation fails.
    """
    roots = roots or {"contracts": contracts_dir()}
    sources = collect_sources(roots)
    key = _cache_key(sources)
    cache = cache or cache_dir()
    cached = cache / f"{key}.json"
    if cached.is_file():
        try:
            return _artifacts(json.loads(cached.read_text()))
        except (json.JSONDecodeError, KeyError):
            pass  # a damaged cache entry is rebuilt below
    solc = solc or find_solc()
    output = solc.compile_standard({
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in sources.items()},
        "settings": SETTINGS,
    })
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompilerError("Solidity compilation failed:\n" + "\n".join(
            e.get("formattedMessage", e.get("message", "")).rstrip() for e in errors))
    cache.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"contracts": output.get("contracts", {})}))
    partial.replace(cached)
    return _artifacts(output)
