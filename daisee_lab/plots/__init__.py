"""matplotlib figures for the book and the reports: each function returns a :class:`Figure`.

A figure shows itself as an image wherever IPython displays it (JupyterLab, nbconvert, the
documentation site), with no pyplot backend to switch on first, carries a text description for
screen readers (`Figure.alt`), and saves from a plain script with ``figure.savefig(path)``.
Every axis is labelled with its unit; times are shown in local French time (Europe/Paris).

Modules: :mod:`.figure` (the figure and the time axis), :mod:`.energy` (energy against
time), :mod:`.markets` (order books).
"""

from daisee_lab.plots.figure import Figure, local_hours
from daisee_lab.plots.energy import energy_day
from daisee_lab.plots.markets import merit_order

__all__ = ["Figure", "energy_day", "local_hours", "merit_order"]
