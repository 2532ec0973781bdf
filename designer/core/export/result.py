"""What an export reports: its errors, its comparisons with the app and its result."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch


class ExportError(ValueError):
    """The export cannot start: a bad run folder, weights file, output path or network.

    The message names the file, tensor or layer at fault.
    """


class ExportRefused(ExportError):
    """Layers the chosen format cannot express; ``refusals`` names each one."""

    def __init__(self, refusals: list[str]):
        self.refusals = refusals
        super().__init__("cannot export: " + "; ".join(refusals))


class ExportFailed(RuntimeError):
    """The exporter failed, or the written model does not compute what the app computes."""


@dataclass
class Comparison:
    inputs: str  # "random" or "validation data" or "training data"
    batch: int
    max_abs_diff: float
    exact: bool = False


@dataclass
class ExportResult:
    format: str
    path: str  # the model file (the .onnx, the .py or the .safetensors)
    files: list[str]  # everything written, the model file first
    project: str
    weights: str  # where the weights came from, in words
    ok: bool = True
    exporter: str | None = None  # onnx: "dynamo" or "legacy"
    opset: int | None = None
    note: str = ""  # why the legacy exporter was used, and other remarks
    checker: str | None = None  # onnx: "passed"
    comparisons: list[Comparison] = field(default_factory=list)
    max_abs_diff: float | None = None
    tolerance: float | None = None
    seconds: float = 0.0  # writing the model
    check_seconds: float = 0.0  # checking it
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """The check result as a user reads it."""
        lines = [f"{'Exported' if self.ok else 'Exported, but the check failed:'} "
                 f"{self.project} ({self.weights}) to {self.path}"]
        if self.format == "onnx":
            lines.append(f"  exporter: {self.exporter}, ONNX opset {self.opset}, dynamic batch "
                         f"axis ({self.seconds:.1f} s)")
            lines.append(f"  onnx.checker: {self.checker}")
        if self.comparisons:
            against = {"onnx": "ONNX Runtime vs PyTorch",
                       "pytorch": "exported code (fresh interpreter) vs the app"}[self.format]
            cells = ", ".join(f"{c.inputs} batch {c.batch}: {number_text(c.max_abs_diff)}"
                              for c in self.comparisons)
            lines.append(f"  {against}, max abs difference: {cells}")
        if self.note:
            lines.append(f"  note: {self.note}")
        if self.message:
            lines.append(f"  {self.message}")
        for extra in self.files[1:]:
            lines.append(f"  also wrote {extra}")
        return "\n".join(lines)


def number_text(value: float) -> str:
    """Differences as people compare them: 0, 2.4e-07, 1e-04, 0.5."""
    if value == 0:
        return "0"
    if abs(value) >= 1e-3:
        return f"{value:.2g}"
    return f"{value:.1e}".replace(".0e", "e")


def identical(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same values bit for bit, NaN included where both have it."""
    return a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())


def max_diff(expected: tuple[torch.Tensor, ...], got) -> float:
    worst = 0.0
    for e, g in zip(expected, got, strict=True):
        g = torch.as_tensor(np.asarray(g))
        if tuple(g.shape) != tuple(e.shape):
            return math.inf
        if not e.numel():
            continue
        e, g = e.double(), g.double()
        # NaN where the app gives NaN (a Log of a negative input) agrees; NaN elsewhere does not
        if not torch.equal(torch.isnan(e), torch.isnan(g)):
            return math.inf
        diff = (g - e).abs().nan_to_num(nan=0.0)
        diff[torch.isinf(e) & (g == e)] = 0.0  # the same infinity
        worst = max(worst, float(diff.max()))
    return worst


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
