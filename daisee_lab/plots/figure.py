"""The figure every plotting function returns, and the local-time axis they share."""

from __future__ import annotations

import base64
import html
import io

import matplotlib.figure
from matplotlib.dates import AutoDateLocator, DateFormatter

from daisee_lab.units import PARIS


class Figure(matplotlib.figure.Figure):
    """A matplotlib figure that IPython displays as a PNG image (with alt text in HTML), in
    JupyterLab, nbconvert and the site alike, without ``%matplotlib inline``.

    `alt` describes the figure for readers who cannot see it; by default it is made from the
    titles, axis labels and legend entries."""

    alt_text: str | None = None

    @property
    def alt(self) -> str:
        """A one-sentence description of the figure: the given one, else its titles, axes and
        series."""
        if self.alt_text:
            return self.alt_text
        parts = []
        title = self.get_suptitle()
        for ax in self.axes:
            if not ax.get_visible():
                continue
            labels = [label for label in ax.get_legend_handles_labels()[1]
                      if not label.startswith("_")]
            what = ax.get_title() or title or "a chart"
            axes = " against ".join(filter(None, [ax.get_ylabel(), ax.get_xlabel()]))
            parts.append(what + (f": {axes}" if axes else "")
                         + (f" ({', '.join(labels)})" if labels else ""))
        return "; ".join(parts) or "an empty figure"

    @alt.setter
    def alt(self, text: str) -> None:
        self.alt_text = text

    def png(self, dpi: int = 100) -> bytes:
        """The figure as PNG bytes."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        return buffer.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png()).decode("ascii")
        return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.alt)}" '
                f'style="max-width: 100%">')


def local_hours(ax, label: str = "local time (Europe/Paris)") -> None:
    """Label a time axis with local French hours (HH:MM), ticks on round local hours."""
    ax.xaxis.set_major_locator(AutoDateLocator(tz=PARIS))
    ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=PARIS))
    ax.set_xlabel(label)
