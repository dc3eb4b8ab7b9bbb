"""The documentation site: built strictly, served on localhost, opened in headless Chromium.

Pages load with no failed request, no console error and nothing fetched from outside (classrooms
have bad Wi-Fi), and the search finds "checksum".
"""

import functools
import http.server
import os
import shutil
import socketserver
import subprocess
import sys
import threading

import pytest

from conftest import REPO

# `make test` finds or installs one (tests/chromium.sh) and passes its path on.
CHROMIUM = os.environ.get("DAISEE_CHROMIUM") or shutil.which("chromium")
PAGES = ["", "getting-started/", "book/02-a-live-meter/", "hardware/", "reference/"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(out)], cwd=REPO, capture_output=True, text=True,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
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
    page.goto(site + "book/02-a-live-meter/", wait_until="networkidle")
    assert page.locator(".jp-OutputArea-output img").count() >= 1  # the chapter's plot
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
