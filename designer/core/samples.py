"""What a network that outputs images makes, watched as training goes: after each epoch the
first executor's network runs on a fixed batch (generated inputs from one seed, the first
samples of its dataset) and its images are written as one grid (``samples/epoch_NNNN.png``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from designer.core.compiler import Compiled
from designer.core.files import atomic_path
from designer.core.session import Prepared, autocast, generate

COUNT = 64  # images in a grid
COLUMNS = 8
SCALE = 2  # pixels per value, so 28×28 digits show at 56×56


def image_output(compiled: Compiled) -> bool:
    """Whether the network's first output is an image: C×H×W with C 1 or 3."""
    if not compiled.outputs:
        return False
    node = compiled.network.find(compiled.outputs[0]) if compiled.network else None
    shape = compiled.analysis.nodes[node.id].shape if node is not None else None
    return shape is not None and len(shape) == 3 and shape[0] in (1, 3) and min(shape[1:]) > 1


@dataclass
class Samples:
    compiled: Compiled
    inputs: list[torch.Tensor]  # infer's arguments for the fixed batch

    @classmethod
    def of(cls, prepared: Prepared) -> "Samples | None":
        """The executor's fixed batch, or None when its network does not output images."""
        executors = prepared.project.training.executors
        if not executors or executors[0].network not in prepared.networks:
            return None
        compiled = prepared.networks[executors[0].network]
        if not image_output(compiled):
            return None
        data = prepared.datasets.get(executors[0].dataset)
        count = COUNT
        inputs: list[torch.Tensor] = []
        if compiled.data_inputs:
            if data is None or not len(data):
                return None
            count = min(COUNT, len(data))
            rows = np.arange(count)
            inputs = [torch.from_numpy(np.ascontiguousarray(data.values(v, rows)))
                      .float().to(prepared.device) for v in compiled.data_inputs]
        generator = torch.Generator().manual_seed(prepared.project.training.seed + 1)
        inputs += generate(compiled, compiled.input_vars, count, generator, prepared.device)
        return cls(compiled, inputs)

    def images(self, prepared: Prepared) -> np.ndarray:
        """The network's images for the fixed batch, N×C×H×W."""
        prepared.train_mode(False)
        with torch.no_grad(), autocast(prepared):
            out = self.compiled.infer.forward(*self.inputs)
        prepared.train_mode(True)
        out = out[0] if isinstance(out, tuple) else out
        return out.float().cpu().numpy()

    def write(self, prepared: Prepared, path: Path) -> None:
        write_grid(self.images(prepared), path)


def grid(images: np.ndarray, columns: int = COLUMNS) -> np.ndarray:
    """N×C×H×W values as one H'×W'×C image of 8-bit pixels: values in 0..1 as they are, others
    stretched from their minimum to their maximum."""
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        images = (images - low) / max(high - low, 1e-12)
    n, c, h, w = images.shape
    rows = -(-n // columns)
    out = np.ones((rows * (h + 1) + 1, columns * (w + 1) + 1, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        out[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + col * (w + 1):1 + col * (w + 1) + w] = \
            image.transpose(1, 2, 0)
    out = np.repeat(np.repeat(out, SCALE, axis=0), SCALE, axis=1)
    return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)


def write_grid(images: np.ndarray, path: Path) -> None:
    from PIL import Image

    pixels = grid(images)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
