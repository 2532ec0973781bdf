"""How Neural Network Console (NNC) writes a layer: the facts a spec carries for the
``.sdcproj`` importer and writer (``designer.core.nnc``).

A layer's ``NncLayer`` lists NNC's properties in the order NNC's editor writes them. Each one
either carries one of our properties (same meaning, NNC's text) or is a property we do not
model, with the value that means what our layer does: the importer accepts that value silently
and lists any other as not carried over; the writer writes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Values NNC computes, present only in files NNC has "completed"; they carry nothing.
COMPUTED_KEYS = ("Input", "Inputs", "Output", "IsParam", "IsLossFunction", "CostParameter",
                 "CostAdd", "CostMultiply", "CostMultiplyAdd", "CostDivision", "CostExp",
                 "CostIf")

# Initializer names of older NNC versions.
INITIALIZER_ALIASES = {"NormalAffineHe": "NormalAffineHeForward",
                       "NormalConvolutionHe": "NormalConvolutionHeForward"}

# Old spellings of property names, read as the current ones.
PROPERTY_ALIASES = {"SkipAtInspection": "SkipAtTest"}


def _anything(value: str, layer: str) -> bool:
    return True


@dataclass(frozen=True)
class NncProp:
    """One NNC property of a layer.

    ``ours`` names the property of ours it carries; otherwise ``neutral`` is the value that
    means what our layer does (``accepts`` may allow more values silently, given the value and
    the layer's name). ``written`` is False for read-only values NNC's editor leaves out of files
    (accepted on import when neutral, never written).
    """

    name: str
    ours: str = ""
    neutral: str = ""
    accepts: Callable[[str, str], bool] | None = None
    written: bool = True
    blank: str = ""  # NNC's text for our empty value (ParameterScope's ``*Name``)

    def silent(self, value: str, layer: str) -> bool:
        """Whether ``value`` of a property we do not model means what our layer does."""
        if self.accepts is not None and self.accepts(value, layer):
            return True
        return _same_text(value, self.neutral)


def _same_text(a: str, b: str) -> bool:
    if a.strip() == b.strip():
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False


@dataclass(frozen=True)
class NncLayer:
    """NNC's name for the layer, its properties, its side inputs and its computed values."""

    type: str
    props: tuple[NncProp, ...] = ()
    # side connectors, pins 1, 2, …: a link there feeds our input port of that name, if any
    pins: tuple[str, ...] = ()
    multiple: bool = False  # several links on pin 0 feed our ports (or one port) in link order
    # layer-specific ``*`` values: token -> f(NNC's text of every property, our parsed
    # properties) -> our value (``*Name``, ``*Input`` and ``*<property>`` are understood by all)
    computed: dict[str, Callable[[dict, dict], object]] = field(default_factory=dict)
    # values only the writer computes, from our properties and input shapes (Flatten's OutShape)
    write: Callable[[dict, list], dict[str, str]] | None = None
    reads: bool = True  # False: written as ``type`` but not read back as this layer
    # caveats about properties NNC and we compute differently, for the import's notes
    caveats: Callable[[dict], list[str]] | None = None

    def prop(self, name: str) -> NncProp | None:
        for p in self.props:
            if p.name == name:
                return p
        return None

    def prop_for(self, ours: str) -> NncProp:
        """The NNC property that carries our property ``ours``."""
        return next(p for p in self.props if p.ours == ours)


def same(*names: str) -> tuple[NncProp, ...]:
    """Properties NNC names and means as we do."""
    return tuple(NncProp(n, ours=n) for n in names)


def fixed(name: str, neutral: str, accepts=None, written: bool = True) -> NncProp:
    return NncProp(name, neutral=neutral, accepts=accepts, written=written)


def ignored(name: str, value: str) -> NncProp:
    """A property without effect for us (NNC's in-place memory hints): any value is fine."""
    return NncProp(name, neutral=value, accepts=_anything)


def read_only(name: str) -> NncProp:
    """A value NNC computes and its editor does not write (DepthwiseConvolution's OutMaps)."""
    return NncProp(name, accepts=_anything, written=False)


# NNC's *Name (the layer's own name) is our empty scope
PARAMETER_SCOPE = NncProp("ParameterScope", ours="ParameterScope", blank="*Name")
TRAINING_ONLY = (fixed("Seed", "-1"), fixed("SkipAtTest", "True"))
FIXED_BASE_AXIS = fixed("BaseAxis", "0", written=False)


def learned(*names: str) -> tuple[NncProp, ...]:
    """A parameter's four properties: a pretrained-values file (not carried), then ours."""
    out: list[NncProp] = []
    for n in names:
        out += [fixed(f"{n}.File", "")] + list(same(f"{n}.Initializer",
                                                    f"{n}.InitializerMultiplier",
                                                    f"{n}.LRateMultiplier"))
    return tuple(out)


def not_learned(name: str, initializer: str, multiplier: str, rate: str) -> tuple[NncProp, ...]:
    """A tensor NNC lists that is no parameter of ours (a binarised copy, running statistics):
    its settings mean nothing here; only a pretrained-values file would."""
    return (fixed(f"{name}.File", ""), ignored(f"{name}.Initializer", initializer),
            ignored(f"{name}.InitializerMultiplier", multiplier),
            ignored(f"{name}.LRateMultiplier", rate))


def target(name: str = "T") -> tuple[NncProp, ...]:
    """A loss's target: the dataset variable, or NNC's generator in its place."""
    return same(f"{name}.Dataset", f"{name}.Generator", f"{name}.GeneratorMultiplier")


def padding_from_border_mode(nnc: dict, props: dict) -> tuple[int, ...]:
    """``*ConvolutionPaddingSize``: valid 0, same ⌊d·(k−1)/2⌋, full d·(k−1) on each axis."""
    mode = nnc.get("BorderMode", "same").strip()
    kernel, dilation = props["KernelShape"], props.get("Dilation", (1,) * len(props["KernelShape"]))
    if mode == "valid":
        return tuple(0 for _ in kernel)
    if mode == "full":
        return tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    if mode == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    raise ValueError(f"BorderMode must be valid, same or full, not {mode!r}")


BORDER_MODE = fixed("BorderMode", "valid",
                    lambda value, layer: value.strip() in ("valid", "same", "full"))
CONVOLUTION_PADDING = {"*ConvolutionPaddingSize": padding_from_border_mode}
