"""A pytest plugin (``-p nbval_checks``, in pyproject.toml): checks on the chapters as nbval
runs them, beyond comparing kept outputs. A plugin rather than a book/conftest.py, which the
tests' ``from conftest import ...`` could pick up instead of tests/conftest.py.

Every output of every cell is looked at: a figure must reach the reader as an image, never as
its text repr (``<Figure size 800x350 with 1 Axes>``), which is what a bare matplotlib figure
gives where no pyplot backend is active (JupyterLab, nbconvert, the site).
"""

import re

import pytest

FIGURE_AS_TEXT = re.compile(r"<(?:matplotlib\.figure\.)?Figure size \d+x\d+ with \d+ Axes>")
IMAGES = ("image/png", "image/svg+xml", "image/jpeg", "text/html")


def figures_shown_as_text(outputs) -> list[str]:
    """The text reprs of figures in `outputs` (nbformat outputs) that carry no image."""
    found = []
    for output in outputs:
        data = output.get("data", {}) if isinstance(output, dict) else getattr(output, "data", {})
        text = data.get("text/plain", "") or (output.get("text", "") if isinstance(output, dict)
                                              else "")
        if FIGURE_AS_TEXT.search(text) and not any(kind in data for kind in IMAGES):
            found.append(FIGURE_AS_TEXT.search(text).group())
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    result = yield
    shown = figures_shown_as_text(getattr(item, "test_outputs", None) or [])
    if shown:
        raise AssertionError(f"{item.nodeid}: a figure reached the reader as text ({shown[0]}), "
                             "not as an image: return a daisee_lab.plots.Figure or call plt.show()")
    return result
