"""PyTorch code: one standalone ``.py`` file (the network class, the layer classes it uses
from ``nodes/modules.py`` verbatim, and a torch-only weights reader), checked in a fresh
interpreter. The file's text is in ``pytorch_template``."""
from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import nodes
from nodes import modules as layer_modules
from nodes import shape_text

from designer.core.export import pytorch_template as template
from designer.core.export.model import Model, preprocessing, reference_outputs
from designer.core.export.result import (Comparison, ExportError, ExportFailed, ExportRefused,
                                         first_line, identical, max_diff)


def class_name(project_name: str) -> str:
    """``iris_mlp`` -> ``IrisMlp``; never a keyword, a builtin, ``F`` or one of the layer
    classes the file defines (a class named ``None`` or ``F`` would break the file)."""
    words = re.findall(r"[A-Za-z0-9]+", project_name)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Model"
    if name[0].isdigit():
        name = f"Model{name}"
    if (name in _layer_classes() or keyword.iskeyword(name) or hasattr(builtins, name)
            or name == "F"):
        name = f"{name}Model"
    return name


def docstring_text(text: str) -> str:
    """``text`` as it may stand inside the file's triple-quoted docstrings, whatever it holds:
    quotes and backslashes escaped, every character but a printable one or a newline written
    as an escape. The docstring reads as the text; nothing in it can end the string."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif char == "\n" or char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def _layer_classes() -> dict[str, type]:
    return {name: obj for name, obj in vars(layer_modules).items()
            if isinstance(obj, type) and obj.__module__ == layer_modules.__name__}


def constructor(module: nn.Module, spec: nodes.LayerSpec) -> str:
    """Python source that builds a module like ``module``, which ``spec`` built (weights aside).

    A class of nodes/modules.py takes the arguments the spec's ``code_args`` reads back from
    the module; a torch.nn class those read from its attributes. Arguments equal to their
    defaults are left out where the module comes out the same. The code is run and the module
    it builds compared with ``module`` before it is returned, so a class that changes shape is
    caught (and named) rather than silently mis-exported: ExportError says what went wrong.
    """
    cls = type(module)
    if cls.__module__ == layer_modules.__name__:
        name = cls.__name__
        values = dict(zip(_parameters(cls), spec.code_args(module) if spec.code_args else []))
    elif getattr(nn, cls.__name__, None) is cls:
        name = f"nn.{cls.__name__}"
        values = _torch_values(module)
    else:
        raise ExportError(f"no PyTorch code is known for {cls.__module__}.{cls.__name__}")
    parameters = _parameters(cls)
    namespace = {"nn": nn, "torch": torch, **_layer_classes()}
    tried = []
    for concise in (True, False):
        source = f"{name}({_arguments(values, parameters, concise)})"
        if source in tried:
            continue
        tried.append(source)
        try:
            rebuilt = eval(source, namespace)  # our own source text, checked before it is written
        except Exception as e:
            raise ExportError(f"the code {source} does not run: {first_line(e)}") from None
        if _settings(rebuilt) == _settings(module):
            return source
    raise ExportError(f"the code {tried[-1]} does not rebuild the layer's {cls.__name__}")


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The named parameters of a class's constructor (not self, *args, device or dtype)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return {p.name: p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in ("device", "dtype")}


def _torch_values(module: nn.Module) -> dict[str, Any]:
    """A torch.nn module's constructor arguments, read from its attributes of the same names."""
    values = {}
    for name, p in _parameters(type(module)).items():
        if not hasattr(module, name):
            if p.default is p.empty:
                raise ExportError(f"cannot read {type(module).__name__}'s {name}")
            continue
        value = getattr(module, name)
        if isinstance(value, torch.Tensor) or (value is None and name == "bias"):
            value = value is not None  # a bias is a parameter or None
        values[name] = value
    return values


def _arguments(values: dict[str, Any], parameters: dict[str, inspect.Parameter],
               concise: bool) -> str:
    """Required arguments by position, the others by name; defaults left out."""
    parts = []
    for name, value in values.items():
        default = parameters[name].default
        if default is inspect.Parameter.empty:
            parts.append(repr(value))
        elif not _is_default(value, default, concise):
            parts.append(f"{name}={value!r}")
    return ", ".join(parts)


def _is_default(value, default, concise: bool) -> bool:
    """``concise`` also takes ``(1, 1)`` for a default of 1, as torch's convolutions do."""
    if type(value) is type(default) and value == default:
        return True
    return (concise and isinstance(value, tuple) and bool(value)
            and all(type(v) is type(default) and v == default for v in value))


def _settings(module: nn.Module) -> Any:
    """What defines a module apart from its weights: its class, public settings, tensor shapes
    and its children's settings."""
    public = {k: v for k, v in vars(module).items() if not k.startswith("_") and k != "training"
              and not isinstance(v, torch.Tensor)}
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    children = {k: _settings(c) for k, c in module.named_children()}
    return type(module), repr(public), shapes, children


def _modules_source(used: set[str]) -> tuple[list[str], str]:
    """(import lines, class definitions) of nodes/modules.py for the classes ``used``.

    Classes come verbatim, with the classes they name; the file's other top-level statements
    (helpers and constants, if any) come along too.
    """
    text = Path(inspect.getsourcefile(layer_modules)).read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    wanted, stack = set(), list(used)
    while stack:
        name = stack.pop()
        if name in wanted or name not in classes:
            continue
        wanted.add(name)
        stack.extend(n.id for n in ast.walk(classes[name]) if isinstance(n, ast.Name))
    imports, blocks = [], []
    for i, stmt in enumerate(tree.body):
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        segment = "\n".join(lines[start - 1:stmt.end_lineno])
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            imports.append(segment)
        elif i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the module docstring
        elif not isinstance(stmt, ast.ClassDef) or stmt.name in wanted:
            blocks.append(segment)
    return imports, "\n\n\n".join(blocks)


# ---- the file ------------------------------------------------------------------------------

def pytorch_source(model: Model, module_name: str) -> str:
    """The standalone .py file: layer classes, the network class, a torch-only weights reader."""
    compiled, project = model.compiled, model.project
    cls = class_name(project.name)
    code = _network_code(model, cls)
    imports, classes = _modules_source(code.used)
    every_import = set(imports) | {"import json", "import torch", "from torch import nn"}
    standard = sorted(i for i in every_import if i.split()[1] in sys.stdlib_module_names)
    others = sorted(set(every_import) - set(standard),
                    key=lambda line: (not line.startswith("import "), line))
    sections = [
        _header(model, module_name, cls, code),
        "\n".join(standard) + "\n\n" + "\n".join(others),
        template.LAYER_CLASSES.format(classes=classes) if classes else "",
        template.NETWORK.format(
            cls=cls, project=docstring_text(project.name),
            inputs=docstring_text(", ".join(compiled.input_vars)),
            outputs=docstring_text(", ".join(compiled.outputs)), args=", ".join(code.args),
            init="\n".join(f"        {line}" for line in code.init),
            forward="\n".join(f"        {line}" for line in code.forward)),
        template.LOADER,
        template.MAIN.format(cls=cls, example_inputs=", ".join(
            f"torch.randn(2, {', '.join(str(d) for d in compiled.input_shapes[var])})"
            for var in compiled.input_vars)),
    ]
    return "\n\n\n".join(s for s in sections if s) + "\n"


@dataclass
class _NetworkCode:
    """The network class's lines, written from the inference graph."""

    args: list[str] = field(default_factory=list)  # forward's arguments
    init: list[str] = field(default_factory=list)  # __init__'s lines after super().__init__()
    forward: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)  # layer classes of nodes/modules.py it uses
    returns: str = ""  # what forward's result is called in the docstring's example


def _network_code(model: Model, cls: str) -> _NetworkCode:
    """One attribute per layer, one line of forward per call, in graph order."""
    compiled = model.compiled
    by_id = {n.id: n for n in compiled.network.nodes}
    node_of = {attr: by_id[nid] for nid, attr in compiled.attr_of.items()}
    code = _NetworkCode()
    built: set[str] = set()
    local: dict[Any, str] = {}  # graph node -> its variable in forward
    taken = ({"self", "torch", "nn", "F", "math", "json", cls} | set(_layer_classes())
             | {f for f in _FUNCTIONS.values() if "." not in f})  # a helper the file defines
    for fx_node in compiled.infer.graph.nodes:
        if fx_node.op == "placeholder":
            local[fx_node] = fx_node.name
            taken.add(fx_node.name)
            code.args.append(fx_node.name)
        elif fx_node.op == "call_module":
            attr = fx_node.target
            layer = compiled.layers.get_submodule(attr)
            node = node_of[attr]
            if attr not in built:  # a layer called at every time step is built once
                built.add(attr)
                try:
                    code.init.append(f"self.{attr} = {constructor(layer, node.spec)}")
                except ExportError as e:
                    raise ExportRefused([f"{node.name} ({node.type}): {e}"]) from None
            if type(layer).__module__ == layer_modules.__name__:
                code.used.add(type(layer).__name__)
            shape = compiled.analysis.nodes[node.id].shape
            local[fx_node] = _local_name(attr, taken)
            call = (f"{local[fx_node]} = self.{attr}"
                    f"({', '.join(local[a] for a in fx_node.args)})")
            code.forward.append(f"{call}  # {node.type}, N×{shape_text(shape)}")
        elif fx_node.op == "call_function" and fx_node.target in _FUNCTIONS:
            local[fx_node] = _local_name(fx_node.name, taken)
            args = ", ".join(_argument(a, local) for a in fx_node.args)
            code.forward.append(f"{local[fx_node]} = {_FUNCTIONS[fx_node.target]}({args})")
            if fx_node.target is layer_modules.constant_like:
                code.used.add("constant_like")
        elif fx_node.op == "output":
            result = fx_node.args[0]
            results = list(result) if isinstance(result, (tuple, list)) else [result]
            code.returns = "outputs" if len(results) > 1 else local[results[0]]
            code.forward.append(f"return {', '.join(local[r] for r in results)}")
        else:
            raise ExportError(f"cannot write PyTorch code for the graph operation {fx_node.op} "
                              f"{fx_node.target}")
    return code


# what unrolled recurrent blocks and generated constants call, as the exported file spells it
_FUNCTIONS = {torch.select: "torch.select", torch.stack: "torch.stack",
              layer_modules.constant_like: "constant_like"}


def _argument(value, local: dict) -> str:
    if isinstance(value, (list, tuple)) and any(v in local for v in value
                                                if not isinstance(v, (int, float))):
        return f"[{', '.join(local[v] for v in value)}]"
    return local[value] if not isinstance(value, (int, float, tuple, list)) else repr(value)


def _header(model: Model, module_name: str, cls: str, code: _NetworkCode) -> str:
    """The file's docstring: how to use it, and what goes in and comes out. Every text from
    the project (names, description, dataset variables, the run's folder) is escaped."""
    info = preprocessing(model)
    inputs = "\n".join(f"    {docstring_text(i['name'])}: float32 tensor "
                       f"N×{shape_text(i['shape'])}; "
                       f"{docstring_text(i['normalization']['description'])}"
                       for i in info["inputs"])
    outputs = "\n".join(f"    {docstring_text(o['name'])}: N×{shape_text(o['shape'])}, "
                        f"{docstring_text(o['meaning'])}" for o in info["outputs"])
    description = docstring_text(model.project.description.strip())
    return template.HEADER.format(
        project=docstring_text(model.project.name),
        description=f"\n{description}\n" if description else "", module=module_name,
        weights=docstring_text(model.weights), cls=cls, returns=code.returns,
        args=", ".join(code.args), inputs=inputs, outputs=outputs)


def _local_name(attr: str, taken: set[str]) -> str:
    """``Affine_2`` -> ``affine_2``: the layer's name in lower case, unique in forward."""
    name = attr.lower()
    while name in taken or keyword.iskeyword(name):
        name += "_"
    taken.add(name)
    return name


def inference_state(model: Model) -> dict[str, torch.Tensor]:
    """The weights of the layers inference uses: the exported class's state_dict."""
    used = {n.target for n in model.compiled.infer.graph.nodes if n.op == "call_module"}
    return {k: v for k, v in model.compiled.layers.state_dict().items()
            if k.split(".")[0] in used}


# ---- checking it ---------------------------------------------------------------------------

def check_pytorch(model: Model, py_path: Path, weights_path: Path, cases) -> list[Comparison]:
    """Import the exported file in a fresh interpreter (isolated: the app is not importable
    there), load the weights, run each case; outputs must equal the app's exactly."""
    with tempfile.TemporaryDirectory(prefix="nn-designer-check-") as folder:
        io_path = Path(folder) / "cases.pt"
        torch.save([list(inputs) for _, _, inputs in cases], io_path)
        command = [sys.executable, "-I", "-c", template.CHECK, str(py_path.resolve()),
                   str(weights_path.resolve()), class_name(model.project.name), str(io_path),
                   str(torch.get_num_threads())]
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise ExportFailed(f"{py_path} does not run in a fresh Python: {last}")
        outputs = torch.load(io_path, weights_only=True)
    comparisons = []
    for (what, batch, inputs), got in zip(cases, outputs, strict=True):
        expected = reference_outputs(model, inputs)
        diff = max_diff(expected, got)
        exact = len(got) == len(expected) and all(identical(e, g)
                                                   for e, g in zip(expected, got))
        comparisons.append(Comparison(what, batch, diff, exact))
    return comparisons
