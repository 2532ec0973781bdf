"""New projects from templates, sized from a dataset so they train at once.

    python -m designer new PROJECT.nnd --template image-classification \
        --dataset training=data/train.csv
    python -m designer new --list

Given a training dataset, a template reads its variables (designer.core.preview, cheaply) and
sets the Input size from the input variable (``x``) and the output size from the target
(``y``): the number of classes for a classifier, the target's shape for regression, the input's
shape for an autoencoder. Without one it is sized for the embedded dataset named in the list.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from designer.core.data import DataError
from designer.core.dataset_choice import add_dataset_option, apply_choices
from designer.core.preview import VariableInfo, dataset_variables
from designer.core.project import Dataset, Network, Project, ProjectError, TrainingConfig


class TemplateError(ValueError):
    """The template does not fit the data; the message says why and which template would."""


@dataclass
class Sizes:
    """What a template needs to know of the data."""

    input_var: str
    input_shape: tuple[int, ...]
    image: bool  # the input is an image (scaled to 0..1 for the network)
    target_var: str
    target_shape: tuple[int, ...]
    classes: int  # 0 when the target is not a class variable


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    sample: str  # the embedded dataset it is sized for without data ("" for none)
    build: Callable[[Network, Sizes], None]
    training: dict  # epochs, batch_size, optimizer


class _Stack:
    """Adds layers one below the other, each fed by the one before: ``stack("ReLU")``."""

    def __init__(self, net: Network):
        self.net = net
        self.last = None

    def __call__(self, layer: str, **props) -> None:
        node = self.net.add(layer, pos=(0, 90 * len(self.net.nodes)), **props)
        if self.last is not None:
            self.net.connect(self.last, node)
        self.last = node

    def input(self, sizes: Sizes, shape: tuple[int, ...] | None = None) -> None:
        self("Input", Size=list(shape or sizes.input_shape), Dataset=sizes.input_var)

    def loss(self, layer: str, variable: str) -> None:
        self(layer, **{"T.Dataset": variable})


def _classes(sizes: Sizes, template: str) -> int:
    if not sizes.classes:
        raise TemplateError(f"{template} predicts classes, but target variable "
                            f"{sizes.target_var!r} does not hold class numbers; use the "
                            "regression template")
    return sizes.classes


def _image_classification(net: Network, sizes: Sizes) -> None:
    if len(sizes.input_shape) != 3:
        raise TemplateError(f"image-classification needs images (channels×height×width); "
                            f"variable {sizes.input_var!r} holds "
                            f"{'×'.join(map(str, sizes.input_shape))} values per sample; use "
                            "tabular-classification")
    classes = _classes(sizes, "image-classification")
    stack = _Stack(net)
    stack.input(sizes)
    side = min(sizes.input_shape[1:])
    for maps in (16, 32):  # LeNet's two stages; a stage halves the image while it is 8 or more
        stack("Convolution", OutMaps=maps, KernelShape=[3, 3], Padding=[1, 1])
        stack("ReLU")
        if side >= 8:
            stack("MaxPooling", KernelShape=[2, 2], Strides=[2, 2])
            side //= 2
    stack("Affine", OutShape=[64])
    stack("ReLU")
    stack("Affine", OutShape=[classes])
    stack.loss("SoftmaxCrossEntropy", sizes.target_var)


def _mlp(stack: _Stack, sizes: Sizes, outputs: list[int]) -> None:
    stack.input(sizes)
    for _ in range(2):
        stack("Affine", OutShape=[32])
        stack("ReLU")
    stack("Affine", OutShape=outputs)


def _tabular_classification(net: Network, sizes: Sizes) -> None:
    classes = _classes(sizes, "tabular-classification")
    stack = _Stack(net)
    _mlp(stack, sizes, [classes])
    stack.loss("SoftmaxCrossEntropy", sizes.target_var)


def _regression(net: Network, sizes: Sizes) -> None:
    stack = _Stack(net)
    _mlp(stack, sizes, list(sizes.target_shape))
    stack.loss("SquaredError", sizes.target_var)


def _sequence(net: Network, sizes: Sizes) -> None:
    shape = sizes.input_shape
    if len(shape) == 1:
        shape = (shape[0], 1)  # a row of values is a sequence of one feature
    if len(shape) != 2:
        raise TemplateError(f"sequence needs steps×features per sample; variable "
                            f"{sizes.input_var!r} holds {'×'.join(map(str, shape))}")
    stack = _Stack(net)
    stack.input(sizes, shape)
    stack("LSTM", HiddenSize=32)
    if sizes.classes:
        stack("Affine", OutShape=[sizes.classes])
        stack.loss("SoftmaxCrossEntropy", sizes.target_var)
    else:
        stack("Affine", OutShape=list(sizes.target_shape))
        stack.loss("SquaredError", sizes.target_var)


def _autoencoder(net: Network, sizes: Sizes) -> None:
    stack = _Stack(net)
    stack.input(sizes)
    for width in (32, 8, 32):
        stack("Affine", OutShape=[width])
        stack("ReLU")
    stack("Affine", OutShape=[math.prod(sizes.input_shape)])
    if sizes.image:  # pixels are 0..1: so is the reconstruction
        stack("Sigmoid")
    if len(sizes.input_shape) > 1:
        stack("Reshape", OutShape=list(sizes.input_shape))
    stack.loss("SquaredError", sizes.input_var)


def _adam(epochs: int, batch: int, lr: float) -> dict:
    return {"epochs": epochs, "batch_size": batch, "optimizer": {"type": "Adam", "lr": lr}}


TEMPLATES = {t.name: t for t in (
    Template("empty", "an empty network to build from the palette", "", lambda net, s: None,
             {}),
    Template("image-classification", "LeNet-like: two convolution stages and two Affine "
             "layers, classes from images", "embedded:digits28", _image_classification,
             _adam(10, 64, 0.001)),
    Template("tabular-classification", "an MLP (two hidden layers of 32) that predicts a class "
             "from a row of numbers", "embedded:iris", _tabular_classification,
             _adam(50, 16, 0.01)),
    Template("regression", "an MLP that predicts numbers, trained on squared error",
             "embedded:sine", _regression, _adam(30, 32, 0.005)),
    Template("sequence", "an LSTM that reads a sequence and predicts the value (or class) "
             "after it", "embedded:sine", _sequence, _adam(15, 32, 0.005)),
    Template("autoencoder", "squeezes each sample through 8 numbers and rebuilds it",
             "embedded:digits", _autoencoder, _adam(30, 32, 0.005)),
)}


def sizes_from(variables: dict[str, VariableInfo]) -> Sizes:
    """Input ``x`` (else the first variable) and target ``y`` (else the last other one)."""
    names = list(variables)
    if not names:
        raise TemplateError("the dataset has no variables")
    input_var = "x" if "x" in variables else names[0]
    others = [n for n in names if n != input_var]
    target_var = "y" if "y" in variables else (others[-1] if others else input_var)
    source, target = variables[input_var], variables[target_var]
    classes = 0
    if math.prod(target.shape) == 1 and target.whole and target.minimum is not None \
            and target.minimum >= 0:
        classes = max(int(target.maximum) + 1, len(target.class_names))
    if target.class_names and not classes:
        classes = len(target.class_names)
    return Sizes(input_var, tuple(source.shape), source.kind == "image", target_var,
                 tuple(target.shape), classes)


def new_project(template: str, datasets: dict[str, Dataset] | None = None, *,
                folder: str | Path | None = None,
                variables: dict[str, VariableInfo] | None = None,
                name: str = "untitled") -> Project:
    """A project from ``template`` with ``datasets`` (sources relative to ``folder``, the
    project's folder), sized from the training dataset's variables (read unless given).

    Raises TemplateError for an unknown template or data it cannot take, DataError when the
    training dataset cannot be read.
    """
    if template not in TEMPLATES:
        raise TemplateError(f"no template named {template!r}; the templates are "
                            f"{', '.join(TEMPLATES)}")
    chosen = TEMPLATES[template]
    datasets = dict(datasets or {})
    if variables is None and "training" in datasets:
        training = datasets["training"]
        variables = dataset_variables(training.source, folder)
    if variables is None and chosen.sample:
        variables = dataset_variables(chosen.sample)
    project = Project(name=name, description=f"from the {template} template")
    if variables is not None:
        sizes = sizes_from(variables)
        chosen.build(project.networks[0], sizes)
        if sizes.image:  # images from files are stored 0..255; the network sees 0..1
            datasets = {k: Dataset(d.source, d.shuffle, True) for k, d in datasets.items()}
    project.datasets = datasets
    project.training = TrainingConfig(**{**TrainingConfig().__dict__, **chosen.training})
    return project


# ---- command line: python -m designer new -----------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("project", nargs="?", help="project file to write (.nnd)")
    p.add_argument("--template", default="empty", help="template name (default empty; --list "
                                                        "names them)")
    p.add_argument("--list", action="store_true", help="list the templates")
    add_dataset_option(p, "a dataset for the project, which also sizes the network")
    p.add_argument("--force", action="store_true", help="replace an existing project file")


def run(args: argparse.Namespace) -> int:
    if args.list:
        for t in TEMPLATES.values():
            sample = f" (sized for {t.sample} without --dataset)" if t.sample else ""
            print(f"{t.name:<24}{t.description}{sample}")
        return 0
    if args.project is None:
        print("error: name the project file to write, e.g. python -m designer new my.nnd "
              "--template tabular-classification (or --list)", file=sys.stderr)
        return 2
    path = Path(args.project)
    if path.suffix != ".nnd":
        path = path.with_name(path.name + ".nnd")
    if path.exists() and not args.force:
        print(f"error: {path} exists; choose another name or replace it with --force",
              file=sys.stderr)
        return 2
    try:
        holder = Project(path=path.absolute())
        apply_choices(holder, args.dataset, relative=True)
        project = new_project(args.template, holder.datasets, folder=holder.folder,
                              name=path.stem)
        project.save(path)
    except (TemplateError, DataError, ProjectError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {path}: {e.strerror or e}", file=sys.stderr)
        return 1
    sized = "; ".join(f"{n.name} Size {','.join(map(str, n.props['Size']))}"
                      for n in project.network().nodes if n.spec.is_input)
    print(f"wrote {path}: {len(project.network().nodes)} layers from the {args.template} "
          f"template" + (f" ({sized})" if sized else ""))
    return 0
