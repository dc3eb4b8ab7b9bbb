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

from daisee_lab import tic

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


# ------------------------------------------------- the fixes of issue 18, each with its source

def _page(name: str) -> str:
    return (HARDWARE / name).read_text(encoding="utf-8")


def _ohms(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+) (k?)Ω", value).groups()
    return float(number) * (1000 if unit else 1)


def _code_blocks(page: str, after: str) -> list[str]:
    """The fenced code blocks of `page` that follow the first line containing `after`."""
    text = _page(page)
    return re.findall(r"^```[a-z]*\n(.*?)^```", text[text.index(after):], flags=re.M | re.S)


def _bom_row(ref: str) -> dict[str, str]:
    return next(row for row in _bom_rows() if ref in _references(row))


def test_q1_is_a_logic_level_mosfet_in_the_bom_and_on_the_drawing():
    # The BS170's threshold reaches 3.0 V: marginal from a 3.3 V emitter follower.
    assert _bom_row("Q1")["value"] in {"BSS138", "CJ2302"}
    assert schematic.PARTS["tic_interface.svg"]["Q1"] == _bom_row("Q1")["value"]


def test_r1_is_fusible_and_inside_54e_load_range():
    row = _bom_row("R1")
    assert "fusible" in (row["part"] + row["package"]).lower()
    assert 560 <= _ohms(row["value"]) <= 2000  # 54E: 500-2000 Ω; 560 Ω the lowest E12 above


def test_the_drawing_has_the_rxd_activity_led():
    parts = schematic.PARTS["tic_interface.svg"]
    assert "LED" in parts["D1"] and _bom_row("D1")["drawing"] == "tic_interface.svg"


@pytest.mark.parametrize("page, facts", [
    ("tic-demodulator.md", ["500 Ω to 2000 Ω", "older ERDF", "1.2 V to 5 V peak",
                            "100 Ω to 2 kΩ", "25 V", "0.4 mm to 1.4 mm", "fusible",
                            "BSS138", "activity"]),
    ("raspberry-pi.md", ["### Raspberry Pi 5", "dtparam=uart0=on", "/dev/ttyAMA0",
                         "ttyAMA10", "debug connector", "uart0_console",
                         "560 Ω", "standard-mode frame"]),
    ("dsmr-p1.md", ["DSMR 4.x 100 mA", "DSMR 5 and e-MUCS 250 mA", "5 mA", "2.2 kΩ",
                    "ftdi_eeprom", "invert_rxd", "Schmitt", "inverted: true",
                    "Sibelga", "ORES", "P1 and S1", "Fluvius",
                    "GUEK", "Creos", "32 hexadecimal digits", "Austria",
                    "capacity tariff", "1 January 2023", "2.5 kW", "1-0:1.4.0", "1-0:1.6.0",
                    "0-0:98.1.0", "Brussels", "Wallonia"]),
])
def test_page_states_the_fixes_of_issue_18(page, facts):
    text = _page(page)
    missing = [fact for fact in facts if fact not in text]
    assert not missing, f"{page} does not say {missing}"


@pytest.mark.parametrize("page, wrong", [
    ("tic-demodulator.md", "keep its resistive load between about 750 Ω and 5 kΩ"),
    ("raspberry-pi.md", "step 1 is enough"),
    ("dsmr-p1.md", "DSMR 5 only"),
    ("dsmr-p1.md", "1 kΩ pull-up to the adapter's VCC"),
])
def test_page_no_longer_says_what_issue_18_found_wrong(page, wrong):
    assert wrong not in " ".join(_page(page).split())


def test_the_dsmr_page_lists_what_is_covered_and_what_is_not():
    text = _page("dsmr-p1.md")
    covered = text[text.index("## Meters and countries covered"):text.index("**Not covered:**")]
    rows = {row[0] for row in _table_rows(HARDWARE / "dsmr-p1.md")}
    for country in ("Netherlands, DSMR 2.2", "Netherlands, DSMR 4", "Netherlands, DSMR 5",
                    "Belgium, e-MUCS", "Luxembourg, Smarty", "Austria", "Sweden",
                    "Germany, EasyMeter Q3D"):
        assert any(row.startswith(country) for row in rows), country
        assert country in covered
    not_covered = text[text.index("**Not covered:**"):text.index("## The port")]
    for meter in ("SML", "Norway", "Denmark", "M-Bus", "Linky"):
        assert meter in not_covered, meter


def test_the_documented_key_is_32_hex_digits():
    commands = [line for block in _code_blocks("dsmr-p1.md", "## Luxembourg") for line in
                block.splitlines() if "--key" in line]
    assert commands, "no daisee-lab command with --key on the DSMR page"
    for line in commands:
        assert re.search(r"--protocol dsmr --key [0-9A-Fa-f]{32}\b", line), line


@pytest.mark.parametrize("after, mode", [("A historic-mode frame", "historic"),
                                         ("A standard-mode frame", "standard")])
def test_the_sample_frames_are_real_groups_with_valid_checksums(after, mode):
    block = _code_blocks("raspberry-pi.md", after)[0]
    raw = b"".join(b"\n" + line.encode("ascii") + b"\r" for line in block.splitlines())
    groups, rejected = tic.decode_groups(raw)
    assert not rejected and len(groups) == len(block.splitlines()) >= 6
    separator = "\t" if mode == "standard" else " "
    assert all(separator in line for line in block.splitlines())


@pytest.mark.parametrize("page", ["tic-demodulator.md", "raspberry-pi.md", "dsmr-p1.md"])
def test_a_page_of_facts_ends_with_its_dated_sources(page):
    text = _page(page)
    assert "## Sources" in text, f"{page} has no Sources section"
    sources = text[text.index("## Sources"):]
    assert re.search(r"Checked on 20\d\d-\d\d-\d\d", sources), f"{page}: sources carry no date"
    assert len(re.findall(r"^- ", sources, flags=re.M)) >= 3
