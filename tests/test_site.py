"""The documentation site: built strictly, served on localhost and opened from its folder in
headless Chromium.

Pages load with no failed request, no console error and nothing fetched from outside (classrooms
have bad Wi-Fi), the search finds "checksum" (over http and over file://), every internal link
and anchor resolves, each chapter page offers its own notebook, nothing a chapter writes at run
time is published, and the API reference shows no raw Sphinx role.
"""

import functools
import html.parser
import http.server
import json
import os
import posixpath
import re
import shutil
import socketserver
import subprocess
import sys
import threading

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow(minutes=True)  # builds the site, running every chapter

# `make test` finds or installs one (tests/chromium.sh) and passes its path on.
CHROMIUM = os.environ.get("DAISEE_CHROMIUM") or shutil.which("chromium")
PAGES = ["", "getting-started.html", "book/02-a-live-meter.html", "hardware/index.html",
         "reference.html"]
CHAPTERS = sorted(p.stem for p in (REPO / "book").glob("[0-9][0-9]-*.ipynb"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The site, built strictly into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(out)], cwd=REPO, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def site(built):
    """The built site served over http on localhost; its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(built))
    handler.log_message = lambda *args: None
    with socketserver.TCPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}/"
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("no Chromium found for the site test: run `tests/chromium.sh`, which installs "
                    "one or says how, or set DAISEE_CHROMIUM to a Chromium's path")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def test_pages_load_offline_without_errors(site, browser):
    page = browser.new_page()
    failed, errors, outside = [], [], []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: not r.url.startswith(site) and outside.append(r.url))
    for path in PAGES:
        response = page.goto(site + path, wait_until="networkidle")
        assert response.status == 200, path
    assert page.locator("img, svg").count() > 0
    page.goto(site + "book/02-a-live-meter.html", wait_until="networkidle")
    assert page.locator(".jp-OutputArea-output img").count() >= 1  # the chapter's plot
    page.goto(site + "book/04-sharing-fairly.html", wait_until="networkidle")
    tags = page.locator(".cell-tag")  # keep-output, solution: for the tests, not the reader
    assert tags.count() > 0 and not any(tags.nth(i).is_visible() for i in range(tags.count()))
    assert (failed, errors, outside) == ([], [], [])
    page.close()


def test_search_finds_checksum(site, browser):
    page = browser.new_page()
    page.goto(site, wait_until="networkidle")
    # Typing before the search worker has built its index is lost, so wait for it to say ready.
    page.wait_for_function(
        "() => { const m = document.querySelector('.md-search-result__meta');"
        " return m && !/initializ/i.test(m.textContent); }", timeout=60_000)
    # Material reads the query on keyup (or on focus, before fill has set it): type, key by key.
    page.locator("input.md-search__input").press_sequentially("checksum")
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    assert page.locator(".md-search-result__item").count() >= 1
    page.close()


class _Links(html.parser.HTMLParser):
    """The link targets (href, src) and the element ids of one page."""

    def __init__(self):
        super().__init__()
        self.targets, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.targets.append(attrs[name])


def _parse(path):
    links = _Links()
    links.feed(path.read_text(encoding="utf-8", errors="replace"))
    return links


def test_every_internal_link_and_anchor_resolves(built):
    pages = {p.relative_to(built).as_posix(): _parse(p) for p in built.rglob("*.html")}
    broken = []
    for name, links in pages.items():
        for target in links.targets:
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
                continue  # http:, data:, mailto:... are not the site's own links
            path, _, anchor = target.partition("#")
            if path.startswith("/"):  # from the site's root (the 404 page's links)
                resolved = path.lstrip("/")
            else:
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), path)) \
                    if path else name
            if resolved.endswith("/") or (built / resolved).is_dir():
                resolved = posixpath.join(resolved, "index.html")
            if not (built / resolved).is_file():
                broken.append(f"{name} -> {target}")
            elif anchor and resolved in pages and anchor not in pages[resolved].ids:
                broken.append(f"{name} -> {target} (no such anchor)")
    assert broken == []


def test_each_chapter_page_offers_its_own_notebook(built):
    for chapter in CHAPTERS:
        page = built / "book" / f"{chapter}.html"
        downloads = re.findall(r'<a href="([^"]+\.ipynb)" download>', page.read_text())
        assert downloads == [f"{chapter}.ipynb"], chapter
        notebook = json.loads((page.parent / downloads[0]).read_text())
        assert notebook["cells"][0]["source"][0].startswith(f"# {int(chapter[:2])}. ")


def test_nothing_a_chapter_writes_at_run_time_is_published(built):
    published = {p.relative_to(built / "book").as_posix() for p in (built / "book").rglob("*")}
    assert published == {f"{c}{suffix}" for c in CHAPTERS for suffix in (".html", ".ipynb")}
    assert not [p for p in built.rglob("*") if p.suffix in {".sqlite", ".log", ".sol", ".cfg"}]


def test_the_api_reference_shows_no_raw_sphinx_role(built):
    text = (built / "reference.html").read_text()
    assert not re.findall(r":(?:class|func|meth|mod|data|attr|exc|obj):", text)
    assert 'href="#daisee_lab.chain.chain.Chain"' in text  # roles became cross-references


def test_the_site_works_from_its_folder(built, browser):
    """Opened from disk (file://), as a learner who unzipped it would: pages and search."""
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed {r.url}"))
    page.goto((built / "index.html").as_uri(), wait_until="load")
    page.locator("a[href='getting-started.html']").first.click()
    assert page.url.endswith("getting-started.html")
    page.locator("input.md-search__input").click()
    page.locator("input.md-search__input").press_sequentially("checksum")
    page.wait_for_selector(".md-search-result__item", timeout=30_000)
    assert page.locator(".md-search-result__item").count() >= 1
    assert errors == []
    page.close()


def test_every_figure_of_the_book_has_alt_text(built):
    missing = []
    for page in sorted((built / "book").glob("*.html")):
        images = re.findall(r"<img\b[^>]*>", page.read_text())
        missing += [f"{page.name}: {tag[:80]}" for tag in images
                    if not re.search(r'\balt="[^"]+"', tag)]
    assert missing == []
