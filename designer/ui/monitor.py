"""Live training monitor: device, progress and learning curves fed by trainer events.

``TrainingMonitor.handle_event(dict)`` takes the events of ``TrainerProcess.event`` (or of a
run's events.jsonl through ``load_events``). Events only append to buffers; a 50 ms timer draws
what changed, so a burst of events never stalls the window.
"""
from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel,
                               QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from designer.ui.plot_style import (BLUE, GREEN, ORANGE, RED, EpochAxis, LossAxis, add_legend,
                                    recolor_plot, style_plot, style_plot_widget)
from designer.ui.several_curves import SamplesView, SeveralCurves
from designer.ui.text import format_duration, format_error, format_value

REFRESH_MS = 50
PLOT_GROUPS = ("iterations", "losses", "errors")  # one plot each, drawn in this order
SMOOTHING = 0.8  # default EMA weight of the past, bias-corrected as in TensorBoard


def device_text(event: dict) -> str:
    """The device in words, and for several processes the global batch they make."""
    device = str(event.get("device") or "")
    name = str(event.get("device_name") or "")
    if device.startswith("cpu") or not device:
        text = f"Device: CPU{f' ({name})' if name and name.lower() != 'cpu' else ''}"
    else:
        text = f"Device: {name} ({device})" if name else f"Device: {device}"
    processes = event.get("processes") or 1
    if isinstance(processes, int) and processes > 1:
        text += f" × {processes} · batch {event.get('global_batch')}"
    return text


def batch_text(event: dict) -> str:
    """What the global batch is made of, for the device label's tooltip."""
    processes = event.get("processes") or 1
    if not isinstance(processes, int) or processes < 2:
        return f"One process, batch {event.get('batch_size', '?')}"
    return (f"{processes} processes, each taking batch {event.get('batch_size')} a step: "
            f"global batch {event.get('global_batch')}")


class TrainingMonitor(QWidget):
    """Device, progress bar and learning curves of one run.

    ``handle_event(event)`` consumes one trainer event; ``reset()`` clears everything;
    ``load_events(path)`` shows a finished run from its events.jsonl. ``export_png(path)`` and
    ``export_csv(path)`` save the curves. ``status_changed(str)`` repeats the status line for a
    status bar.
    """

    status_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(480, 360)
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self.reset()

    # ---- layout ------------------------------------------------------------------------------

    def _build(self) -> None:
        self._build_controls()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self._build_plots()
        self._build_curves()
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setToolTip("Values under the mouse pointer")

        top = QHBoxLayout()
        top.addWidget(self.device_label)
        top.addSpacing(12)
        top.addWidget(self.status_label, 1)
        top.addWidget(self.smoothing_box)
        top.addWidget(self.log_check)
        top.addWidget(self.png_button)
        top.addWidget(self.csv_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        self.samples_view = SamplesView()
        middle = QHBoxLayout()
        middle.addWidget(self.plots, 3)
        middle.addWidget(self.samples_view, 1)
        layout.addLayout(middle, 1)
        layout.addWidget(self.readout)

    def _build_controls(self) -> None:
        self.device_label = QLabel("Device: –")
        self.device_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label = QLabel("Not trained yet: press Train to start.")
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Expanding,
                                        QSizePolicy.Policy.Preferred)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Show the loss axes on a logarithmic scale")
        self.log_check.toggled.connect(self.set_log_scale)
        self.smoothing = SMOOTHING
        self.smoothing_box = QDoubleSpinBox()
        self.smoothing_box.setRange(0.0, 0.99)
        self.smoothing_box.setSingleStep(0.05)
        self.smoothing_box.setDecimals(2)
        self.smoothing_box.setValue(SMOOTHING)
        self.smoothing_box.setPrefix("Smoothing ")
        self.smoothing_box.setToolTip("Weight of the past in the smoothed training loss "
                                      "(0: none, 0.99: very smooth)")
        self.smoothing_box.valueChanged.connect(self.set_smoothing)
        self.png_button = QPushButton("Export PNG…")
        self.png_button.setToolTip("Save the curves as a picture")
        self.png_button.clicked.connect(self._ask_export_png)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.setToolTip("Save the curves as CSV: per epoch, and per iteration in a "
                                   "second file beside it")
        self.csv_button.clicked.connect(self._ask_export_csv)

    def _build_plots(self) -> None:
        """Loss per iteration above, loss and validation error per epoch below; a dashed line
        follows the mouse."""
        self.plots = pg.GraphicsLayoutWidget()
        style_plot_widget(self.plots, self)
        self.iteration_plot = self.plots.addPlot(
            row=0, col=0, colspan=2, axisItems={"left": LossAxis("left")})
        style_plot(self.iteration_plot, self, "Training loss per iteration", "iteration", "loss")
        self.epoch_plot = self.plots.addPlot(row=1, col=0, axisItems={
            "left": LossAxis("left"), "bottom": EpochAxis("bottom")})
        style_plot(self.epoch_plot, self, "Loss per epoch", "epoch", "loss")
        self.error_plot = self.plots.addPlot(row=1, col=1, axisItems={
            "left": LossAxis("left"), "bottom": EpochAxis("bottom")})
        style_plot(self.error_plot, self, "Validation error per epoch", "epoch", "error (%)")
        for plot in (self.iteration_plot, self.epoch_plot, self.error_plot):
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            add_legend(plot, self)
        self._cursors = {}
        for plot in (self.iteration_plot, self.epoch_plot, self.error_plot):
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(self.palette().color(QPalette.ColorRole.Mid),
                                                style=Qt.PenStyle.DashLine))
            line.hide()
            plot.addItem(line, ignoreBounds=True)
            self._cursors[id(plot)] = line
        self.plots.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.iteration_plot.vb.sigRangeChangedManually.connect(self._on_user_range_change)

    def _build_curves(self) -> None:
        raw = QColor(BLUE)
        raw.setAlpha(120)
        self.raw_curve = self.iteration_plot.plot(pen=pg.mkPen(raw, width=1), name="raw",
                                                  connect="finite")
        self.smooth_curve = self.iteration_plot.plot(pen=pg.mkPen(BLUE, width=2),
                                                     name="smoothed", connect="finite")
        self.train_curve = self.epoch_plot.plot(pen=pg.mkPen(BLUE, width=2), name="training",
                                                symbol="o", symbolSize=4, symbolBrush=BLUE,
                                                symbolPen=None, connect="finite")
        self.val_curve = self.epoch_plot.plot(pen=pg.mkPen(ORANGE, width=2), name="validation",
                                              symbol="o", symbolSize=4, symbolBrush=ORANGE,
                                              symbolPen=None, connect="finite")
        self.error_curve = self.error_plot.plot(pen=pg.mkPen(RED, width=2),
                                                name="validation error", symbol="o",
                                                symbolSize=4, symbolBrush=RED, symbolPen=None,
                                                connect="finite")
        self.best_marker = pg.ScatterPlotItem(symbol="star", size=14, brush=pg.mkBrush(GREEN),
                                              pen=pg.mkPen(None))
        self.error_plot.addItem(self.best_marker)
        self.error_plot.legend.addItem(self.best_marker, "best")
        self.several = SeveralCurves(self.epoch_plot)

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "plots"):
            style_plot_widget(self.plots, self)  # the theme changed: follow it
            for plot in (self.iteration_plot, self.epoch_plot, self.error_plot):
                recolor_plot(plot, self)

    # ---- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget the current run (a new ``started`` event does this too)."""
        self.task = "classification"
        self.epochs = 0
        self.iterations_per_epoch = 0
        self.iterations: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self._ema = 0.0
        self._ema_steps = 0
        self.epoch_numbers: list[float] = []
        self.train_losses: list[float] = []
        self.val_losses: list[float] = []
        self.val_errors: list[float] = []
        self.best: tuple[int, float] | None = None  # (epoch, validation error)
        self.several.reset()
        self.samples_view.reset()
        self.origin_note = ""  # the run this one started from, and what it took
        self.last_iteration = 0
        self.last_epoch = 0
        self.state = "idle"  # idle, running, done, stopped, failed
        self._caching: tuple[int, int] | None = None  # images cached, of how many
        self._clock_start: float | None = None
        self._elapsed_frozen: float | None = None
        self._trainer_elapsed = 0.0
        self._dirty = set(PLOT_GROUPS)  # the plots to redraw
        self._follow_y = True
        self.iteration_plot.enableAutoRange(y=True)  # _draw takes it over
        self._progress_shown: tuple | None = None
        self.device_label.setText("Device: –")
        self._set_status("Not trained yet: press Train to start.")
        self.status_label.setToolTip("")
        self._set_error_axis()
        self.refresh()

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {RED};" if error else "")
        self.status_changed.emit(text)

    def _set_error_axis(self) -> None:
        classification = self.task == "classification"
        self.error_plot.setTitle("Validation error per epoch" if classification
                                 else "Validation error (loss) per epoch")
        self.error_plot.getAxis("left").setLabel("error (%)" if classification else "loss")
        recolor_plot(self.error_plot, self)
        # A percentage starts at 0; a regression loss is free to use the log toggle.
        self.error_plot.setLogMode(y=not classification and self.log_check.isChecked())

    # ---- events ------------------------------------------------------------------------------

    def handle_event(self, event: dict) -> None:
        """Take one trainer event (a dict with an "event" key); unknown events are ignored."""
        kind = event.get("event")
        handler = getattr(self, f"_on_{kind}", None) if isinstance(kind, str) else None
        if handler is not None:
            handler(event)
            if kind == "iteration":
                self._dirty.add("iterations")
            elif kind == "epoch":
                self._dirty.update(("losses", "errors"))

    def load_events(self, path: Path | str) -> int:
        """Show a recorded run from its events.jsonl; returns the number of events read."""
        self.reset()
        count = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if isinstance(event, dict):
                    self.handle_event(event)
                    count += 1
        if self.state == "running":  # the recording ends without a finished event
            self._elapsed_frozen = self._trainer_elapsed
            self.state = "failed"
            self._set_status("This run ended without finishing (crashed or killed).", error=True)
        self.refresh()
        return count

    def _on_started(self, event: dict) -> None:
        resumed = event.get("resumed")
        if isinstance(resumed, dict) and self.state != "idle":
            self._keep_until(int(resumed.get("iteration") or 0),
                             int(resumed.get("epochs_done") or 0))
        else:
            self.reset()
        self.state = "running"
        self.task = event.get("task") or "classification"
        self.epochs = int(event.get("epochs") or 0)
        self.iterations_per_epoch = int(event.get("iterations_per_epoch") or 0)
        self._clock_start = time.monotonic()
        self.device_label.setText(device_text(event))
        self.device_label.setToolTip(batch_text(event))
        samples = event.get("train_samples"), event.get("val_samples")
        detail = (f" on {samples[0]} training and {samples[1]} validation samples"
                  if None not in samples else "")
        self._set_status(f"Training{detail}…")
        self._set_error_axis()
        # The whole run's extent from the start: the curves fill in from the left, and the
        # x axes are not re-laid out on every new point (that costs more than the curves).
        total = self.epochs * self.iterations_per_epoch
        if total:
            self.iteration_plot.setXRange(0, total, padding=0.02)
        if self.epochs:
            for plot in (self.epoch_plot, self.error_plot):
                plot.setXRange(1, max(self.epochs, 2), padding=0.03)

    def _on_init(self, event: dict) -> None:
        """The run started from another run's weights: say so beside the progress."""
        from designer.ui.start_from import init_event_text

        self.origin_note = init_event_text(event)
        self.status_label.setToolTip(self.origin_note)
        self._set_status(f"{self.status_label.text()} {self.origin_note}.")

    def _on_distill(self, event: dict) -> None:
        """The run learns from a teacher run: say so beside the progress."""
        note = (f"Learning from teacher run {Path(str(event.get('teacher', ''))).name} at "
                f"temperature {_number(event.get('temperature')):g}, teacher's share "
                f"{_number(event.get('alpha')):g}")
        self.origin_note = f"{self.origin_note}. {note}" if self.origin_note else note
        self.status_label.setToolTip(self.origin_note)
        self._set_status(f"{self.status_label.text()} {note}.")
    def _keep_until(self, iteration: int, epochs: int) -> None:
        """A resumed run goes on from ``iteration``: its curves as they were there."""
        kept = [i for i, x in enumerate(self.iterations) if x <= iteration]
        self.iterations = [self.iterations[i] for i in kept]
        self.losses = [self.losses[i] for i in kept]
        epoch_kept = [i for i, e in enumerate(self.epoch_numbers) if e <= epochs]
        for name in ("epoch_numbers", "train_losses", "val_losses", "val_errors"):
            setattr(self, name, [getattr(self, name)[i] for i in epoch_kept])
        errors = [(e, v) for e, v in zip(self.epoch_numbers, self.val_errors) if math.isfinite(v)]
        self.best = min(errors, key=lambda ev: ev[1]) if errors else None
        self.last_iteration, self.last_epoch = iteration, epochs
        self._elapsed_frozen = None
        self.set_smoothing(self.smoothing)  # the smoothed curve again, from the kept losses
        self._dirty.update(PLOT_GROUPS)

    def _on_cache(self, event: dict) -> None:
        done, total = int(event.get("done") or 0), int(event.get("total") or 0)
        self._caching = (done, total)
        self._set_status(f"Caching the images of {event.get('variable')}: {done:,} of "
                         f"{total:,} (once; later runs read the cache)…")

    def _on_iteration(self, event: dict) -> None:
        iteration = int(event.get("iteration", self.last_iteration + 1))
        loss = _number(event.get("loss"))
        self.last_iteration = max(self.last_iteration, iteration)
        self.iterations.append(iteration)
        self.losses.append(loss)
        self.smoothed.append(self._smooth(loss))

    def _smooth(self, loss: float) -> float:
        """The next point of the bias-corrected EMA; a NaN or inf loss repeats the last one."""
        beta = self.smoothing
        if math.isfinite(loss):
            self._ema = beta * self._ema + (1 - beta) * loss
            self._ema_steps += 1
        if not self._ema_steps:
            return math.nan
        return self._ema / (1 - beta ** self._ema_steps) if beta < 1 else self._ema

    def set_smoothing(self, beta: float) -> None:
        """The EMA weight of the past (0: raw, 0.99: very smooth); recomputes the curve."""
        beta = min(0.99, max(0.0, float(beta)))
        if abs(self.smoothing_box.value() - beta) > 1e-9:
            self.smoothing_box.setValue(beta)  # re-enters through valueChanged
            return
        self.smoothing = beta
        self._ema, self._ema_steps = 0.0, 0
        self.smoothed = [self._smooth(loss) for loss in self.losses]
        self._dirty.add("iterations")

    def _on_epoch(self, event: dict) -> None:
        epoch = int(event.get("epoch", self.last_epoch + 1))
        self.last_epoch = max(self.last_epoch, epoch)
        self.last_iteration = max(self.last_iteration, epoch * self.iterations_per_epoch)
        self.epoch_numbers.append(epoch)
        self.train_losses.append(_number(event.get("train_loss")))
        self.val_losses.append(_number(event.get("val_loss")))
        self.several.epoch(event)
        error = _number(event.get("val_error"))
        self.val_errors.append(error)
        if math.isfinite(error) and (self.best is None or error < self.best[1]):
            self.best = (epoch, error)
        self._trainer_elapsed = _number(event.get("elapsed"), self._trainer_elapsed)
        if self.state == "running":
            best = (f" · best validation error {format_error(self.best[1], self.task)} "
                    f"(epoch {self.best[0]})" if self.best else "")
            origin = f" · {self.origin_note}" if self.origin_note else ""
            self._set_status(f"Training…{best}{origin}")

    def _on_samples(self, event: dict) -> None:
        self.samples_view.show_samples(event)

    def _on_finished(self, event: dict) -> None:
        status = event.get("status", "done")
        self.state = "stopped" if status == "stopped" else "done"
        self._elapsed_frozen = _number(event.get("elapsed"), self._live_elapsed())
        best_error = _number(event.get("best_val_error"))
        best_epoch = event.get("best_epoch")
        best = (f"; best validation error {format_error(best_error, self.task)} at epoch "
                f"{best_epoch}" if math.isfinite(best_error) and best_epoch is not None else "")
        head = (f"Stopped after epoch {self.last_epoch}" if self.state == "stopped"
                else "Training finished")
        origin = f" {self.origin_note}." if self.origin_note else ""
        self._set_status(f"{head}{best}.{origin}")

    def _on_failed(self, event: dict) -> None:
        self.state = "failed"
        self._elapsed_frozen = self._live_elapsed()
        self._set_status(f"Training failed: {event.get('message') or 'no explanation given'}",
                         error=True)

    def show_failure(self, message: str) -> None:
        """Show a failure that did not come as an event (e.g. ``TrainerProcess.failed``)."""
        if self.state != "failed" or message not in self.status_label.text():
            self.state = "failed"
            self._elapsed_frozen = self._live_elapsed()
            self._set_status(f"Training failed: {message.splitlines()[0]}", error=True)
            self.status_label.setToolTip(message)

    # ---- drawing -----------------------------------------------------------------------------

    def _live_elapsed(self) -> float:
        if self._elapsed_frozen is not None:
            return self._elapsed_frozen
        if self._clock_start is None:
            return self._trainer_elapsed
        return time.monotonic() - self._clock_start

    def progress_text(self) -> str:
        if self.state == "idle" and self._caching:
            done, total = self._caching
            return f"Caching images: {done:,} of {total:,}"
        if self.state == "idle":
            return "No run"
        total = self.epochs * self.iterations_per_epoch
        elapsed = self._live_elapsed()
        fraction = max(self.last_iteration / total if total else 0.0,
                       self.last_epoch / self.epochs if self.epochs else 0.0)
        if self.state != "running":
            remaining = "–"
        elif fraction > 0:
            remaining = format_duration(elapsed * (1 - fraction) / fraction)
        else:
            remaining = "estimating…"
        iteration = (f" · iteration {self.last_iteration}/{total}" if total else "")
        return (f"Epoch {self.last_epoch}/{self.epochs or '?'}{iteration} · "
                f"elapsed {format_duration(elapsed)} · remaining {remaining}")

    def _tick(self) -> None:
        """The 50 ms timer: the progress bar, then at most one plot.

        All three plots live in one view, so plots set in the same tick are painted together;
        one plot per tick keeps each repaint (the real cost) short.
        """
        self._show_progress()
        for group in PLOT_GROUPS:
            if group in self._dirty:
                self._draw(group)
                return

    def refresh(self) -> None:
        """Draw everything buffered now (for tests, exports and screenshots)."""
        self._show_progress()
        for group in PLOT_GROUPS:
            if group in self._dirty:
                self._draw(group)

    def _show_progress(self) -> None:
        total = self.epochs * self.iterations_per_epoch
        maximum = max(total, self.epochs, 1)
        progress = (maximum, min(self.last_iteration if total else self.last_epoch, maximum),
                    self.progress_text())
        if self.state == "idle" and self._caching:
            progress = (max(self._caching[1], 1), self._caching[0], self.progress_text())
        if progress != self._progress_shown:
            self._progress_shown = progress
            self.progress.setRange(0, maximum)
            self.progress.setValue(progress[1])
            self.progress.setFormat(progress[2])

    def _draw(self, group: str) -> None:
        self._dirty.discard(group)
        epochs = np.asarray(self.epoch_numbers, float)
        if group == "iterations":
            view = self.iteration_plot.vb
            if view.state["autoRange"][1]:  # a new run, or the user pressed the "A" button
                view.enableAutoRange(y=False)
                self._follow_y = True
            iterations = np.asarray(self.iterations, float)
            losses = np.asarray(self.losses, float)
            self.raw_curve.setData(iterations, losses)
            self.smooth_curve.setData(iterations, np.asarray(self.smoothed, float))
            if self._follow_y:
                self._fit_y(losses)
        elif group == "losses":
            self.train_curve.setData(epochs, np.asarray(self.train_losses, float))
            self.val_curve.setData(epochs, np.asarray(self.val_losses, float))
            self.several.draw()
        else:
            scale = 100.0 if self.task == "classification" else 1.0
            self.error_curve.setData(epochs, np.asarray(self.val_errors, float) * scale)
            if self.best is not None:
                self.best_marker.setData([self.best[0]], [self.best[1] * scale])
            else:
                self.best_marker.clear()

    def _fit_y(self, losses: np.ndarray) -> None:
        """Keep the iteration plot's y range around the losses, changing it only when they
        leave it or fill less than half of it.

        A changed range repaints the whole plot and lays its axis out again; an unchanged one
        repaints just the new stretch of curve. That is most of the monitor's cost.
        """
        if self.log_check.isChecked():
            losses = np.log10(losses[losses > 0])  # the view's coordinates
        losses = losses[np.isfinite(losses)]
        if not len(losses):
            return
        lo, hi = float(losses.min()), float(losses.max())
        shown_lo, shown_hi = self.iteration_plot.vb.viewRange()[1]
        shown = shown_hi - shown_lo
        if lo >= shown_lo and hi <= shown_hi and (hi - lo) >= 0.5 * shown:
            return
        margin = 0.08 * (hi - lo) or 0.1 * max(abs(hi), 1e-3)
        self.iteration_plot.setYRange(lo - margin, hi + margin, padding=0)

    def _on_user_range_change(self, _ranges) -> None:
        self._follow_y = False  # the user zoomed or panned: leave the view where they put it

    def set_log_scale(self, on: bool) -> None:
        """Logarithmic loss axes (the validation error too, for regression)."""
        if self.log_check.isChecked() != on:
            self.log_check.setChecked(on)  # re-enters through toggled
            return
        for plot in (self.iteration_plot, self.epoch_plot, self.error_plot):
            # A log axis labels its decades as major ticks; 2 and 5 are minor ones.
            plot.getAxis("left").setStyle(maxTickLevel=1 if on else 0)
        self.iteration_plot.setLogMode(y=on)
        self.epoch_plot.setLogMode(y=on)
        self._set_error_axis()
        if self._follow_y:
            self._dirty.add("iterations")  # refit the range in the new coordinates

    # ---- hover readout -----------------------------------------------------------------------

    def describe_at(self, plot: pg.PlotItem, x: float) -> str:
        """The values of ``plot``'s curves nearest to ``x`` (what the hover readout shows)."""
        if plot is self.iteration_plot:
            i = _nearest(self.iterations, x)
            if i is None:
                return ""
            return (f"iteration {int(self.iterations[i])}: loss {format_value(self.losses[i])}, "
                    f"smoothed {format_value(self.smoothed[i])}")
        i = _nearest(self.epoch_numbers, x)
        if i is None:
            return ""
        return (f"epoch {int(self.epoch_numbers[i])}: training loss "
                f"{format_value(self.train_losses[i])}, validation loss "
                f"{format_value(self.val_losses[i])}, validation error "
                f"{format_error(self.val_errors[i], self.task)}")

    def _on_mouse_moved(self, pos: QPointF) -> None:
        text = " "
        for plot in (self.iteration_plot, self.epoch_plot, self.error_plot):
            line = self._cursors[id(plot)]
            if plot.vb.sceneBoundingRect().contains(pos):
                x = plot.vb.mapSceneToView(pos).x()
                text = self.describe_at(plot, x) or " "
                series = self.iterations if plot is self.iteration_plot else self.epoch_numbers
                i = _nearest(series, x)
                line.setVisible(i is not None)
                if i is not None:
                    line.setValue(series[i])
            else:
                line.hide()
        self.readout.setText(text)

    # ---- export ------------------------------------------------------------------------------

    def export_png(self, path: Path | str) -> Path:
        self.refresh()
        path = Path(path)
        if not self.plots.grab().save(str(path)):
            raise OSError(f"could not write the picture {path}")
        return path

    def export_csv(self, path: Path | str) -> tuple[Path, Path]:
        """Per-epoch curves to ``path``, per-iteration ones to ``<stem>_iterations.csv``."""
        path = Path(path)
        iterations = path.with_name(f"{path.stem}_iterations{path.suffix or '.csv'}")
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "train_loss", "val_loss", "val_error"])
            writer.writerows(zip(map(int, self.epoch_numbers), self.train_losses,
                                 self.val_losses, self.val_errors))
        with open(iterations, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["iteration", "loss", "smoothed_loss"])
            writer.writerows(zip(map(int, self.iterations), self.losses, self.smoothed))
        return path, iterations

    def _ask_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves as PNG", "curves.png",
                                              "PNG image (*.png)")
        if path:
            self._report_export(lambda: [self.export_png(path)])

    def _ask_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves as CSV", "curves.csv",
                                              "CSV file (*.csv)")
        if path:
            self._report_export(lambda: list(self.export_csv(path)))

    def _report_export(self, export) -> None:
        try:
            written = export()
        except OSError as e:
            self.status_changed.emit(f"Export failed: {e}")
        else:
            self.status_changed.emit("Saved " + " and ".join(str(p) for p in written))


def _number(value, default: float = math.nan) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _nearest(series: list[float], x: float) -> int | None:
    if not series:
        return None
    i = int(np.searchsorted(series, x))
    if i == 0:
        return 0
    if i >= len(series):
        return len(series) - 1
    return i if series[i] - x < x - series[i - 1] else i - 1
