"""Running a classroom from a terminal (``daisee-lab classroom``) or a notebook (a dashboard)."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from daisee_lab.classroom.bills import format_slot, leaderboard
from daisee_lab.classroom.instructor import Classroom
from daisee_lab.classroom.learner import Learner, join
from daisee_lab.classroom.meter_process import MeterProcess
from daisee_lab.classroom.schedule import Phase

FAILURES_SHOWN = 8  # on the dashboard, the latest


def serve(learners: int, out_dir: str | Path = "classroom", *, qr: bool = False,
          echo: Callable[[str], None] = print, **settings) -> pd.DataFrame:
    """Run a whole session from a terminal: open the :class:`Classroom` (`settings` are its
    keyword arguments), show the room's address and the join codes (and the address's QR code
    with `qr`), print each slot's result, the leaderboard and every learner's failure, and stop
    cleanly on the last slot, Ctrl-C or ``classroom stop``."""
    room = Classroom(learners, out_dir, **settings)
    with room:
        echo(room.summary())
        if qr:
            echo(room.qr_text())
        room.on_slot.append(lambda table: echo(format_slot(table, room.results)))
        room.on_failure.append(lambda seat, what: echo(f"{seat}: {what}"))
        echo("the clock is running; Ctrl-C or `daisee-lab classroom stop` ends the session")
        try:
            return room.run()
        finally:
            echo(f"results: {room.results_path}")


def attend(source: str | Path, code: str | None = None, keep: str | Path | None = None,
           meter_port: str | None = None, protocol: str = "tic",
           echo: Callable[[str], None] = print, patience: float | None = None) -> Learner:
    """A learner's terminal session: join (with `code`: a new seat kept in `keep`; without:
    the seat kept in `source`), then place one order per slot from the meter's forecast and
    reveal it, printing each order and refusal, until the session ends. `meter_port` brings a
    real meter (or ``daisee-lab meter simulate``'s pty) instead of the simulated household of
    the seat: it signs and reports in a process of its own (:class:`MeterProcess`, its key
    kept beside the seat). `patience`: seconds to keep calling a room that stopped answering
    (default :attr:`Learner.patience`)."""
    process = meter_port and MeterProcess(
        meter_port, protocol, Path(keep or source).with_suffix(".meter-key.json"))
    try:
        learner = join(source, code, process or None, keep)
    except BaseException:
        if process:
            process.close()
        raise
    if patience is not None:
        learner.patience = patience
    echo(f"{learner.name}: account {learner.account.address} on {learner.chain.rpc_url}, "
         f"{f'meter on {meter_port}' if meter_port else 'simulated meter'}; Ctrl-C to leave")
    learner.start(auto=True)
    orders = errors = 0
    try:
        while learner.running:
            time.sleep(0.5)
            for order in learner.orders_placed[orders:]:
                echo(f"slot {order.slot}: {'bid' if order.is_bid else 'ask'} {order.qty} Wh "
                     f"at {order.price} µ€/kWh")
            for slot, error in learner.errors[errors:]:
                echo(f"slot {slot}: refused: {error}")
            orders, errors = len(learner.orders_placed), len(learner.errors)
    finally:
        learner.stop()
        if process:
            process.close()
    if learner.failure is not None:
        raise learner.failure
    echo(learner.orders().to_string())
    echo(f"credits (µ€): {learner.balances()}")
    return learner


class Dashboard:
    """The instructor's projected view: the phase, the leaderboard, the latest failures with the
    seat that caused each, and a button that ends the current phase. It follows `room` by
    itself (display it, then run the room, e.g. in a thread:
    ``threading.Thread(target=room.run).start()``). Needs ipywidgets."""

    def __init__(self, room: Classroom):
        import ipywidgets as w

        self.room = room
        self.status = w.HTML("waiting for the clock...")
        self.board = w.HTML()
        self.failures = w.HTML()
        self.button = w.Button(description="next phase", tooltip="end the current phase now")
        self.button.on_click(lambda _: room.advance())
        self.widget = w.VBox([self.status, self.board, self.failures, self.button])
        room.on_phase.append(self.show_phase)
        room.on_slot.append(self.show_slot)
        room.on_failure.append(self.show_failure)
        self.show_slot(None)
        self.show_failure()

    def show_phase(self, phase: Phase) -> None:
        """Show where the room is."""
        schedule = self.room.schedule
        number = phase.slot - schedule.first_slot + 1
        if schedule.slots is not None and number > schedule.slots:
            self.status.value = (f"<b>the {schedule.slots} slots are played</b> (chain slot "
                                 f"{phase.slot}): the last one is being billed")
            return
        total = "" if schedule.slots is None else f" of {schedule.slots}"
        self.status.value = (f"<b>slot {number}{total}</b> (chain slot {phase.slot}): "
                             f"<b>{phase.name}</b> orders for the next slot")

    def show_slot(self, table: pd.DataFrame | None) -> None:
        """Show the leaderboard so far, in €."""
        board = leaderboard(self.room.results)
        for column in ("bill_ueur", "baseline_ueur", "savings_ueur"):
            board[column.replace("_ueur", " (€)")] = board.pop(column) / 1e6
        self.board.value = board.to_html(float_format="{:.4f}".format)

    def show_failure(self, *_: object) -> None:
        """Show the last failures, each with the seat that caused it."""
        last = self.room.failures[-FAILURES_SHOWN:]
        self.failures.value = "".join(f"<div>⚠ <b>{html.escape(seat)}</b>: "
                                      f"{html.escape(what)}</div>" for seat, what in last)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def dashboard(room: Classroom) -> Dashboard:
    """A :class:`Dashboard` following `room`."""
    return Dashboard(room)
