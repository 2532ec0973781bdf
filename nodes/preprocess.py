"""Preprocessing layers: class indices to one-hot vectors, and data augmentation that runs in
training only (identity at inference and in exported models)."""
from nodes.basic import fmt_shape
from nodes.nnc import FIXED_BASE_AXIS, TRAINING_ONLY, NncLayer, same
from nodes.others import axes_infer
from nodes.spec import LayerSpec, LazyModule, Prop, Shape, ShapeError, shape_text

modules = LazyModule("nodes.modules")


RandomFlip = LayerSpec(
    name="RandomFlip",
    category="Preprocess",
    help="In training, reverses each sample along each of Axes with probability ½ (Axes 2 "
         "mirrors C×H×W images left to right); does nothing at inference.",
    props=(Prop("Axes", "shape", (0,), "The axes that may be reversed, counting from 0.",
                min=0),),
    infer=axes_infer,
    build=lambda i, p: modules.RandomFlip(p["Axes"]),
    code_args=lambda m: [tuple(a - 1 for a in m.axes)],
    nnc=NncLayer("RandomFlip", same("Axes") + (FIXED_BASE_AXIS,) + TRAINING_ONLY),
)


def _shift_infer(inputs: list[Shape], p: dict) -> Shape:
    x, shift = inputs[0], p["Shift"]
    if len(shift) > len(x):
        raise ShapeError(f"Shift {fmt_shape(shift)} has more values than the {shape_text(x)} "
                         "input has axes")
    if p["BorderMode"] == "reflect" and any(
            s >= 2 * n for s, n in zip(shift, x[len(x) - len(shift):])):
        raise ShapeError(f"Shift {fmt_shape(shift)} must be less than twice the size of the "
                         "axis it moves, to reflect")
    return x


RandomShift = LayerSpec(
    name="RandomShift",
    category="Preprocess",
    help="In training, moves each sample by a random whole number of steps up to Shift along "
         "the last axes (4,4 moves C×H×W images up to 4 pixels each way), repeating or "
         "mirroring the border; does nothing at inference.",
    props=(
        Prop("Shift", "shape", (0, 0), "The largest move per axis (the last axes).", min=0),
        Prop("BorderMode", "choice", "nearest", "nearest repeats the edge value; reflect "
                                                "mirrors the sample.",
             choices=("nearest", "reflect")),
    ),
    infer=_shift_infer,
    build=lambda i, p: modules.RandomShift(p["Shift"], p["BorderMode"]),
    code_args=lambda m: [m.shifts, m.mode],
    nnc=NncLayer("RandomShift", same("Shift", "BorderMode") + (FIXED_BASE_AXIS,)
                 + TRAINING_ONLY),
)


def _augment_infer(inputs: list[Shape], p: dict) -> Shape:
    x, shape = inputs[0], p["Shape"] or inputs[0]
    if len(x) < 2:
        raise ShapeError(f"augments images (…×H×W), but the input is {shape_text(x)}")
    if len(shape) != len(x) or tuple(shape[:-2]) != tuple(x[:-2]):
        raise ShapeError(f"Shape {fmt_shape(shape)} must keep the input's axes before H×W "
                         f"({shape_text(x)})")
    if p["MinScale"] > p["MaxScale"]:
        raise ShapeError(f"MinScale {p['MinScale']:g} is above MaxScale {p['MaxScale']:g}")
    return tuple(shape)


def _augment_build(inputs: list[Shape], p: dict):
    shape = p["Shape"] or inputs[0]
    return modules.ImageAugmentation(
        shape[-2:], p["Pad"], p["MinScale"], p["MaxScale"], p["Angle"], p["AspectRatio"],
        p["Distortion"], p["FlipLR"], p["FlipUD"], p["Brightness"], p["BrightnessEach"],
        p["Contrast"], p["ContrastCenter"], p["ContrastEach"], p["Noise"])


def _augment_write(props: dict, inputs: list) -> dict[str, str]:
    return {} if props["Shape"] else {"Shape": "*Input"}


_AUGMENT_PROPS = (
    Prop("Shape", "shape", (), "The output size (C,H,W); empty: the input's.", min=1,
         allow_empty=True),
    Prop("Pad", "shape", (0, 0), "Zeros around the image (H, W) the window may show.", min=0),
    Prop("MinScale", "float", 1.0, "Smallest zoom factor.", min=0.01),
    Prop("MaxScale", "float", 1.0, "Largest zoom factor.", min=0.01),
    Prop("Angle", "float", 0.0, "Largest rotation either way, in radians.", min=0.0),
    Prop("AspectRatio", "float", 1.0, "Largest change of the width-to-height ratio (a "
                                      "factor, ≥ 1).", min=1.0),
    Prop("Distortion", "float", 0.0, "Strength of the barrel distortion.", min=0.0),
    Prop("FlipLR", "bool", False, "Mirror half the images left to right."),
    Prop("FlipUD", "bool", False, "Mirror half the images top to bottom."),
    Prop("Brightness", "float", 0.0, "Largest value added to or taken from the pixels.", min=0.0),
    Prop("BrightnessEach", "bool", False, "Draw the brightness change per channel."),
    Prop("Contrast", "float", 1.0, "Largest contrast factor (the smallest is its inverse).",
         min=0.01),
    Prop("ContrastCenter", "float", 0.5, "The pixel value contrast changes leave alone."),
    Prop("ContrastEach", "bool", False, "Draw the contrast change per channel."),
    Prop("Noise", "float", 0.0, "Largest standard deviation of added Gaussian noise.", min=0.0),
)

ImageAugmentation = LayerSpec(
    name="ImageAugmentation",
    category="Preprocess",
    help="In training, zooms, rotates, distorts, moves, flips and changes the brightness, "
         "contrast and noise of each image at random; at inference the image passes unchanged "
         "(centre-cropped to Shape when that is smaller, where NNC removes the layer).",
    props=_AUGMENT_PROPS,
    infer=_augment_infer,
    build=_augment_build,
    code_args=lambda m: [m.size, m.pad, *m.settings],
    nnc=NncLayer("ImageAugmentation", same(*(p.name for p in _AUGMENT_PROPS)) + TRAINING_ONLY,
                 write=_augment_write),
)

def _onehot_infer(inputs: list[Shape], p: dict) -> Shape:
    x, shape = inputs[0], p["Shape"]
    if not x or x[-1] != len(shape):
        raise ShapeError(f"the last axis of the {shape_text(x)} input must hold one class index "
                         f"per axis of Shape {fmt_shape(shape)} ({len(shape)})")
    return tuple(x[:-1]) + tuple(shape)


OneHot = LayerSpec(
    name="OneHot",
    category="Preprocess",
    help="Turns class indices into one-hot vectors: the last input axis holds one index per "
         "axis of Shape (an index out of range gives all zeros).",
    props=(Prop("Shape", "shape", (10,), "The number of classes (per index).", min=1),),
    infer=_onehot_infer,
    build=lambda i, p: modules.OneHot(p["Shape"]),
    code_args=lambda m: [m.shape],
    input_classes=lambda p: min(p["Shape"]),
    nnc=NncLayer("OneHot", same("Shape")),
)

SPECS = [OneHot, RandomFlip, RandomShift, ImageAugmentation]
