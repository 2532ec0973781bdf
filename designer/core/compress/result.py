"""What a compression reports: its errors, the figures of a model and the before/after table."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from designer.core.files import size_text

BATCHES = (1, 32)  # the batch sizes whose latency is measured


class CompressError(ValueError):
    """The compression cannot be done as asked; the message names the run, layer or option.
    Nothing was written."""


@dataclass
class Figures:
    """One model measured: its ONNX file, ONNX Runtime's latency on the CPU and its validation
    accuracy (classification) or error (regression), with the network's size in numbers."""

    label: str
    path: str  # the ONNX file measured
    size: int  # bytes of that file
    latency_ms: dict[str, float]  # batch size (as text, as JSON keys are) -> median ms
    error: float  # 1 - accuracy, or the mean squared error
    accuracy: float | None = None  # classification
    params: int | None = None
    macs: int | None = None

    @classmethod
    def from_json(cls, data: dict) -> Figures:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


@dataclass
class Compressed:
    """A compressed model beside its origin: before and after, and where it went."""

    method: str  # quantize, prune or distill
    origin: str  # the run folder compressed (distill: the teacher)
    output: str  # the file (quantize) or run folder (prune, distill) made
    before: Figures
    after: Figures
    settings: dict[str, Any] = field(default_factory=dict)  # the method's options
    project: str | None = None  # the project file of the result (prune, distill)
    notes: list[str] = field(default_factory=list)
    agreement: float | None = None  # quantize: share of samples both classify alike
    created: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Compressed:
        values = {k: data.get(k) for k in cls.__dataclass_fields__}
        values["before"] = Figures.from_json(data["before"])
        values["after"] = Figures.from_json(data["after"])
        values["settings"] = values["settings"] or {}
        values["notes"] = values["notes"] or []
        return cls(**values)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """The before/after table: (figure, before, after, after against before) per row."""
        rows = []
        b, a = self.before, self.after

        def ratio(x, y) -> str:
            return f"{y / x:.2f}×" if x else "–"

        rows.append(("file size", size_text(b.size), size_text(a.size), ratio(b.size, a.size)))
        for batch in (str(n) for n in BATCHES):
            rows.append((f"latency, batch {batch}", _ms(b.latency_ms.get(batch)),
                         _ms(a.latency_ms.get(batch)),
                         ratio(b.latency_ms.get(batch) or 0, a.latency_ms.get(batch) or 0)))
        if b.accuracy is not None and a.accuracy is not None:
            rows.append(("validation accuracy", f"{b.accuracy:.2%}", f"{a.accuracy:.2%}",
                         f"{(a.accuracy - b.accuracy) * 100:+.2f} points"))
        else:
            rows.append(("validation error", f"{b.error:.4g}", f"{a.error:.4g}",
                         ratio(b.error, a.error)))
        for name, x, y in (("parameters", b.params, a.params), ("multiply-adds", b.macs, a.macs)):
            if x is not None and y is not None:
                rows.append((name, f"{x:,}", f"{y:,}", ratio(x, y)))
        return rows

    def table(self) -> str:
        """The before/after table as the command line prints it."""
        rows = [("", self.before.label, self.after.label, "after / before"), *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in rows]
        return "\n".join(lines)

    def summary(self) -> str:
        made = (f"{self.project} (its run: {self.output})" if self.project
                else self.output)
        lines = [f"{self.method}: {made}", self.table()]
        if self.agreement is not None:
            lines.append(f"the int8 model classifies {self.agreement:.2%} of the validation "
                         "samples as the float model does")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g} ms"
