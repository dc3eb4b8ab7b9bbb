"""The repository stands alone: nothing in it reads a folder beside or above it."""

import re
import subprocess

from conftest import REPO, TESTDATA

# Ways of reaching out of the repository: the sibling test-data folder, a parent of the
# repository's root. Built from pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", r"\bshared" + r"/testdata",
                               r"parents\[[2-9]\]", r"REPO\.parent" + r"\b"]))


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in names:
        path = REPO / name
        if path.suffix in {".py", ".ipynb", ".md", ".yml", ".toml", ".cfg", ".js", ".json"} \
                or path.name in {"Makefile", "run"}:
            yield name, path.read_text(encoding="utf-8", errors="replace")


def test_nothing_refers_to_a_folder_outside_the_repository():
    hits = [f"{name}:{text[:m.start()].count(chr(10)) + 1}: {m.group()}"
            for name, text in tracked_text_files() for m in OUTSIDE.finditer(text)]
    assert hits == []


def test_the_captures_are_in_the_repository_with_their_provenance():
    for folder in ("tic", "dsmr"):
        files = {p.name for p in (TESTDATA / folder).iterdir()}
        assert "README.md" in files and len(files) > 5, folder
        listed = (TESTDATA / folder / "README.md").read_text()
        assert all(name in listed for name in files - {"README.md"}), folder
    licences = (TESTDATA / "README.md").read_text()
    for source in ("esciara/pyteleinfo", "ndokter/dsmr_parser", "openhab/openhab-addons"):
        assert source in licences
