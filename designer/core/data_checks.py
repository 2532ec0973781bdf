"""The network checked against its data before training, so "ready to train" means it trains.

:func:`check_project` lists every problem of the training network (those analysis finds) plus
those of the data: a missing training dataset, a file that cannot be read, Input sizes against
the variables' shapes, each loss's target against its variable (class numbers within the number
of classes the network scores, 0/1 targets for a threshold loss), a validation dataset whose
variables differ. A problem carries a :class:`~designer.core.analysis.Fix` where one edit
obviously resolves it ("set Input Size to 13", "set Affine_3 OutShape to 3"), which a window can
apply as an undoable edit. The data is read with designer.core.preview (no image is decoded but
the first), so this runs in a fraction of a second even for a big image set; pass ``progress``
and ``cancelled`` to run it on a worker thread.
"""
from __future__ import annotations

import math

import nodes

from designer.core.analysis import Fix, Problem, analyze, is_generated, output_layer
from designer.core.data import DataError
from designer.core.preview import VariableInfo, dataset_variables, shapes
from designer.core.progress import CancelCheck, Progress
from designer.core.project import Network, Project, ProjectError

NO_TRAINING_DATA = ("the project has no training dataset; choose one (an embedded dataset or a "
                    "dataset CSV file) under datasets.training")


def project_variables(project: Project, name: str = "training", *,
                      progress: Progress | None = None,
                      cancelled: CancelCheck | None = None) -> dict[str, VariableInfo]:
    """The variables of the project's dataset ``name``; DataError when it cannot be read."""
    dataset = project.datasets[name]
    return dataset_variables(dataset.source, project.folder, dataset.normalize,
                             progress=progress, cancelled=cancelled)


def check_project(project: Project, variables: dict[str, VariableInfo] | None = None, *,
                  progress: Progress | None = None,
                  cancelled: CancelCheck | None = None) -> list[Problem]:
    """Every problem that would stop the project's training network from training.

    ``variables`` are the training dataset's, when the caller has them already (else they are
    read). The validation dataset, when there is one, is read and checked too.
    """
    try:
        network = project.network()
    except ProjectError as e:
        return [Problem(None, None, str(e))]
    if "training" not in project.datasets:
        return analyze(network).problems + [Problem(None, None, NO_TRAINING_DATA)]
    try:
        if variables is None:
            variables = project_variables(project, progress=progress, cancelled=cancelled)
    except DataError as e:
        return analyze(network).problems + [Problem(None, None, str(e))]
    problems = check_network(network, variables, project.datasets["training"].source)
    if "validation" in project.datasets:
        problems += _validation_problems(project, network, variables, problems)
    return problems


def _validation_problems(project: Project, network: Network,
                         training: dict[str, VariableInfo], known: list[Problem]) -> list[Problem]:
    source = project.datasets["validation"].source
    try:
        variables = project_variables(project, "validation")
    except DataError as e:
        return [Problem(None, None, str(e))]
    if shapes(variables) != shapes(training):
        def describe(found: dict[str, VariableInfo]) -> str:
            return ", ".join(f"{k} ({nodes.shape_text(v.shape)})" for k, v in found.items())
        return [Problem(None, None, f"the training data has variables {describe(training)} but "
                                    f"the validation data ({source}) has {describe(variables)}; "
                                    "they must match")]
    seen = {p.message for p in known}
    return [p for p in check_network(network, variables, source) if p.message not in seen]


def check_network(network: Network, variables: dict[str, VariableInfo],
                  source: str = "the dataset") -> list[Problem]:
    """The network's problems with data whose variables are ``variables`` (read from
    ``source``, named in messages about values)."""
    fitted = _fitted_shapes(network, shapes(variables))
    result = analyze(network, fitted)
    problems = list(result.problems)
    for info in variables.values():
        if info.error:
            problems.append(Problem(None, None, info.error))
    by_id = {n.id: n for n in network.nodes}
    for node_id in result.order:
        node, ni = by_id[node_id], result.nodes[node_id]
        try:
            spec = node.spec
        except KeyError:
            continue
        if not spec.is_loss or not ni.props or not ni.inputs or ni.error \
                or not _reads_dataset_target(network, node, spec, ni):
            continue
        variable = variables.get(ni.props[spec.target_prop])
        if variable is None or variable.error or variable.minimum is None:
            continue
        problem = _target_problem(network, result.nodes, node, spec, ni, variable, source)
        if problem is not None:
            problems.append(problem)
    return problems


def _fitted_shapes(network: Network, have: dict[str, tuple[int, ...]]):
    """The variables' shapes as training feeds them: a variable whose values only need
    rearranging for its Input or loss (a 1×4 data CSV for a Size 4 Input) takes that shape."""
    plain = analyze(network)
    wanted: dict[str, tuple[int, ...]] = {}
    for node in network.nodes:
        ni = plain.nodes[node.id]
        if not ni.props:
            continue
        if node.spec.is_input and not is_generated(node.spec, ni.props):
            wanted.setdefault(ni.props["Dataset"], tuple(ni.props["Size"]))
        elif node.spec.is_loss and ni.inputs and ni.shape is not None \
                and _reads_dataset_target(network, node, node.spec, ni):
            target = node.spec.target(ni.inputs[0], ni.props)
            wanted.setdefault(ni.props[node.spec.target_prop], tuple(target.shape))
    fitted = dict(have)
    for name, shape in wanted.items():
        if name in have and math.prod(have[name]) == math.prod(shape):
            fitted[name] = shape
    return fitted


def _reads_dataset_target(network: Network, node, spec, ni) -> bool:
    """Whether a loss compares with a dataset variable (not a linked T or generated values)."""
    if any(k.dst == node.id and k.port == 1 for k in network.links):
        return False
    return ni.props.get(spec.generator_prop, "None") == "None"


def _target_problem(network, info, node, spec, ni, variable: VariableInfo,
                    source: str) -> Problem | None:
    """Class numbers beyond what the network scores, fractions or negatives as classes, or
    targets outside 0..1 for a loss that thresholds probabilities."""
    expected = spec.target(ni.inputs[0], ni.props)
    name, low, high = variable.name, variable.minimum, variable.maximum
    if math.prod(variable.shape) != math.prod(expected.shape):
        return None  # analysis reports the shapes
    held = f"target variable {name!r} of {source} holds"
    if expected.kind == "index":
        classes = expected.classes
        if variable.whole is False:
            return Problem(node.id, node.name, f"{held} values that are not whole numbers "
                                               f"({low:g} to {high:g}); {spec.name} needs class "
                                               f"numbers 0 to {classes - 1}")
        if low < 0:
            return Problem(node.id, node.name, f"{held} {low:g}; class numbers start at 0")
        if high >= classes:
            needed = max(int(high) + 1, len(variable.class_names))
            scorer = output_layer(network, info, node.id)
            scored = f"{network.node(scorer).name} scores" if scorer else "the network scores"
            return Problem(node.id, node.name,
                           f"{held} class numbers up to {high:g} ({needed} classes) but "
                           f"{scored} {classes} classes",
                           Fix(scorer, network.node(scorer).name, "OutShape", [needed])
                           if scorer else None)
    elif spec.prediction.pick == "threshold" and (low < 0 or high > 1):
        return Problem(node.id, node.name,
                       f"{held} values from {low:g} to {high:g}; {spec.name} needs targets from 0 "
                       "to 1 (two classes); for more classes use SoftmaxCrossEntropy with one "
                       "output per class")
    return None
