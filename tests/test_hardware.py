"""The hardware guide stays true: its figures are what schematic.py draws, bom.csv lists exactly
the parts drawn, and its pages link only to files and headings that exist."""

from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markdown.extensions.toc import slugify

HARDWARE = Path(__file__).resolve().parents[1] / "hardware"
PAGES = sorted(HARDWARE.glob("*.md"))
BOM_COLUMNS = ["reference", "part", "value", "package", "quantity", "role", "supplier_or_note",
               "drawing"]
DESIGNATOR = re.compile(r"(?:R|C|L|D|Q|U|J)\d+")
SVG_NS = "{http://www.w3.org/2000/svg}"


def _load_schematic():
    spec = importlib.util.spec_from_file_location("hardware_schematic", HARDWARE / "schematic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


schematic = _load_schematic()


def _bom_rows() -> list[dict[str, str]]:
    with open(HARDWARE / "bom.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _references(row: dict[str, str]) -> list[str]:
    return [ref.strip() for ref in row["reference"].split(",")]


def _svg_texts(name: str) -> set[str]:
    """Every line of text drawn in the SVG file `name`."""
    root = ET.parse(HARDWARE / name).getroot()
    return {span.text for span in root.iter(f"{SVG_NS}tspan") if span.text}


def _prose(page: Path) -> str:
    """The Markdown of `page` without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)


def _links(page: Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _prose(page))


def _images(page: Path) -> set[str]:
    return set(re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", _prose(page)))


def _anchors(page: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", _prose(page), flags=re.M)
    return {slugify(heading, "-") for heading in headings}


def _table_rows(page: Path) -> list[list[str]]:
    lines = (line.strip() for line in _prose(page).splitlines())
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines
            if line.startswith("|")]


@pytest.mark.parametrize("name", list(schematic.DRAWINGS))
def test_committed_svg_is_what_its_source_draws(name):
    committed = (HARDWARE / name).read_bytes()
    assert schematic.render(name) == committed, (
        f"hardware/{name} is stale: run python hardware/schematic.py and commit the SVG")


def test_a_fresh_process_draws_the_same_bytes():
    result = subprocess.run([sys.executable, str(HARDWARE / "schematic.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_check_names_the_stale_and_the_missing_drawings(tmp_path, capsys):
    assert schematic.main(["--dir", str(tmp_path)]) == 0
    for name in schematic.DRAWINGS:
        assert (tmp_path / name).read_bytes() == (HARDWARE / name).read_bytes()
    assert schematic.main(["--check", "--dir", str(tmp_path)]) == 0

    edited = tmp_path / "tic_interface.svg"
    edited.write_bytes(edited.read_bytes().replace(b"4.7 k", b"47 k"))
    (tmp_path / "p1_cable.svg").unlink()
    capsys.readouterr()
    assert schematic.main(["--check", "--dir", str(tmp_path)]) == 1
    report = capsys.readouterr().err
    assert "tic_interface.svg is stale" in report
    assert "p1_cable.svg is stale" in report
    assert "tic_wiring.svg" not in report


def test_render_rejects_an_unknown_drawing():
    with pytest.raises(KeyError, match="wiring.png"):
        schematic.render("wiring.png")


def test_long_decimals_are_rounded_and_the_rest_is_kept():
    svg = b'<svg width="656.4440000000002pt" x="-0.00000001" y="12.5">R1 1.2 k</svg>'
    rounded = b'<svg width="656.444pt" x="0" y="12.5">R1 1.2 k</svg>'
    assert schematic._round_long_decimals(svg) == rounded


def test_bom_has_its_columns_and_consistent_quantities():
    with open(HARDWARE / "bom.csv", newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == BOM_COLUMNS
    for row in _bom_rows():
        required = [column for column in BOM_COLUMNS if column != "supplier_or_note"]
        assert all(row[column].strip() for column in required), row
        assert int(row["quantity"]) == len(_references(row)), row["reference"]


def test_bom_lists_exactly_the_parts_of_the_schematic_source_with_their_values():
    in_bom = {(row["drawing"], ref): row["value"]
              for row in _bom_rows() for ref in _references(row)}
    in_source = {(drawing, ref): value for drawing, parts in schematic.PARTS.items()
                 for ref, value in parts.items()}
    assert in_bom == in_source
    assert sum(int(row["quantity"]) for row in _bom_rows()) == len(in_source)


@pytest.mark.parametrize("drawing", list(schematic.PARTS))
def test_the_drawing_labels_exactly_the_bom_parts(drawing):
    texts = _svg_texts(drawing)
    bom = {ref: row["value"] for row in _bom_rows() if row["drawing"] == drawing
           for ref in _references(row)}
    for ref, value in bom.items():
        assert ref in texts and value in texts, f"{ref} {value} is not labelled on {drawing}"
    assert {text for text in texts if DESIGNATOR.fullmatch(text)} == set(bom)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_page_links_only_to_files_and_headings_of_the_guide(page):
    links = _links(page)
    assert links, f"{page.name} has no links"
    for link in links:
        if re.match(r"[a-z]+:", link):  # https:, mailto:: outside the site
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.is_file(), f"{page.name} links to {link}, which does not exist"
        assert target.parent == HARDWARE, f"{page.name} links outside hardware/: {link}"
        if anchor:
            assert target.suffix == ".md", f"{page.name}: anchor on a non-page link {link}"
            assert anchor in _anchors(target), f"{page.name}: no heading #{anchor} in {target.name}"


def test_the_guide_starts_at_index_and_shows_every_drawing():
    assert (HARDWARE / "index.md").is_file()
    assert set().union(*map(_images, PAGES)) == set(schematic.DRAWINGS)


def test_a_page_that_shows_a_schematic_lists_its_parts_as_the_bom_does():
    for page in PAGES:
        rows = _table_rows(page)
        for drawing in set(schematic.PARTS) & _images(page):
            for row in _bom_rows():
                if row["drawing"] == drawing:
                    expected = [row["reference"], row["part"], row["value"], row["package"]]
                    assert expected in rows, f"{page.name} does not list {expected}"
