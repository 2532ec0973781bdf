"""Knowledge distillation: a network (the student) learns from a trained run (the teacher).

``training.distill = {"teacher": RUN_DIR, "weights": "best", "temperature": T, "alpha": a}``
makes training minimise

    a · T² · KL(softmax(teacher / T) ‖ softmax(student / T)) + (1 − a) · the project's own loss

on every batch: the teacher's soft targets at temperature T, mixed with the true labels (Hinton
et al., 2015; T² keeps the soft term's gradients on the scale of the hard one). The teacher is
the network its run trained, with the run's weights, in inference mode; it reads the same
dataset variables as the student and must score the same classes. Validation scores the
student as any run does, against the true labels only.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nodes import shape_text

from designer.core import runs
from designer.core.compiler import CompileError, Compiled, compile_network
from designer.core.project import ProjectError, load


class DistillError(ValueError):
    """The teacher cannot teach this student; the message names the run, layer or variable."""


@dataclass
class Teacher:
    infer: nn.Module  # the teacher's inference graph, weights loaded, in eval mode
    inputs: list[str]  # the dataset variables it reads, in order
    shapes: dict[str, tuple[int, ...]]  # the shape it reads each in
    kind: str  # what its first output means: "scores" or "probabilities"
    prediction: str  # the layer that gives it
    run: Path
    weights: str


def load_teacher(run_dir: str | os.PathLike, which: str, student: Compiled) -> Teacher:
    """The teacher run's network with its weights, checked against the student."""
    run_dir = Path(run_dir)
    snapshot = runs.project_path(run_dir)
    if not snapshot.is_file():
        raise DistillError(f"training.distill.teacher: {run_dir} is not a run folder "
                           f"(it has no {snapshot.name})")
    path = runs.weights_path(run_dir, which)
    if not path.is_file():
        raise DistillError(f"training.distill: {path}: weights file not found")
    try:
        network = load(snapshot).network()
        compiled = compile_network(network)
        runs.load_into(compiled, network, path)
    except (ProjectError, CompileError, runs.WeightsError) as e:
        raise DistillError(f"training.distill: the teacher run {run_dir.name}: {e}") from None
    _check_pair(compiled, student, run_dir)
    compiled.infer.eval()
    for p in compiled.layers.parameters():
        p.requires_grad_(False)
    loss = compiled.losses[0]
    return Teacher(compiled.infer, list(compiled.input_vars), dict(compiled.input_shapes),
                   loss.meaning.kind, loss.prediction, run_dir, which)


def _check_pair(teacher: Compiled, student: Compiled, run_dir: Path) -> None:
    """Same classes, same variables: the teacher's soft targets must mean something to the
    student."""
    for role, compiled in (("teacher", teacher), ("student", student)):
        loss = compiled.losses[0]
        if loss.meaning.pick != "argmax" or loss.meaning.kind not in ("scores", "probabilities"):
            raise DistillError(
                f"training.distill: the {role}'s {loss.name} ({loss.type}) does not score "
                "classes with softmax scores or probabilities; distillation needs a classifier "
                "on both sides (e.g. SoftmaxCrossEntropy)")
    t, s = teacher.losses[0], student.losses[0]
    if t.target_spec.classes != s.target_spec.classes:
        raise DistillError(f"training.distill: the teacher ({run_dir.name}) scores "
                           f"{t.target_spec.classes} classes with {t.prediction} but the "
                           f"student scores {s.target_spec.classes} with {s.prediction}")
    for var in teacher.input_vars:
        if var not in student.train_vars:
            raise DistillError(f"training.distill: the teacher reads dataset variable {var!r}, "
                               f"which the student does not read "
                               f"(it reads {', '.join(student.train_vars)})")
        need = teacher.input_shapes[var]
        have = student.input_shapes.get(var) or next(
            tuple(loss.target_spec.shape) for loss in student.losses if loss.target == var)
        if math.prod(have) != math.prod(need):
            raise DistillError(f"training.distill: the teacher reads {var!r} as "
                               f"{shape_text(need)} but the student as {shape_text(have)}")


def objective(teacher: Teacher, student: Compiled, loss_modules: list[nn.Module],
              temperature: float, alpha: float) -> Callable[..., torch.Tensor]:
    """The training step's loss: takes the batch as the training graph does (the student's
    train_vars in order) and returns the mixed loss."""
    position = {name: i for i, name in enumerate(student.train_vars)}
    n_inputs = len(student.input_vars)
    teacher_args = [position[var] for var in teacher.inputs]
    targets = [position[loss.target] for loss in student.losses]
    student_kind = student.losses[0].meaning.kind
    forward = student.infer.forward
    squared = temperature * temperature

    def loss(*batch: torch.Tensor) -> torch.Tensor:
        outputs = forward(*batch[:n_inputs])
        outputs = list(outputs) if isinstance(outputs, tuple) else [outputs]
        # a loss gives one value per element (per sample): training minimises their mean
        hard = sum(module(out, batch[i]).mean()
                   for module, out, i in zip(loss_modules, outputs, targets))
        if alpha == 0:
            return hard
        with torch.no_grad():
            args = [batch[i].reshape((len(batch[i]),) + teacher.shapes[var])
                    for i, var in zip(teacher_args, teacher.inputs)]
            taught = teacher.infer(*args)
            taught = taught[0] if isinstance(taught, tuple) else taught
            soft = F.softmax(_logits(taught, teacher.kind) / temperature, dim=1)
        own = F.log_softmax(_logits(outputs[0], student_kind) / temperature, dim=1)
        return alpha * squared * F.kl_div(own, soft, reduction="batchmean") + (1 - alpha) * hard

    return loss


def _logits(values: torch.Tensor, kind: str) -> torch.Tensor:
    """Scores as logits: probabilities become their logarithms (softmax gives them back)."""
    values = values.float().flatten(1)
    return values if kind == "scores" else torch.log(values.clamp_min(1e-12))
