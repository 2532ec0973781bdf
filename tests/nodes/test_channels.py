"""Each spec's ``channels`` fact holds in torch: pruning relies on it to remove maps."""
import pytest
import torch

from nodes import CATALOG

SHAPE = (4, 6, 6)
KEEP = [0, 2, 3]

MARKED = [spec for spec in CATALOG.values() if spec.channels]


def _inputs(spec, shape, generator):
    x = torch.rand((2,) + shape, generator=generator) + 0.1  # positive: Log, RDivScalar
    return [x * (i + 1) for i in range(len(spec.inputs))]


@pytest.mark.parametrize("spec", MARKED, ids=lambda s: s.name)
def test_a_layer_marked_per_map_computes_each_map_on_its_own(spec):
    props = spec.defaults()
    small_shape = (len(KEEP),) + SHAPE[1:]
    generator = torch.Generator().manual_seed(0)
    full = spec.module([SHAPE] * len(spec.inputs), props).eval()
    small = spec.module([small_shape] * len(spec.inputs), props).eval()
    if spec.channels == "learned":
        with torch.no_grad():
            for tensor in full.state_dict().values():
                if tensor.is_floating_point():
                    tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
        state = {k: v[KEEP] if v.dim() and v.shape[0] == SHAPE[0] else v
                 for k, v in full.state_dict().items()}
        small.load_state_dict(state)
    inputs = _inputs(spec, SHAPE, generator)
    with torch.no_grad():
        whole = full(*inputs)
        part = small(*[x[:, KEEP] for x in inputs])
    if spec.channels == "flatten":
        whole = whole.reshape(2, SHAPE[0], -1)[:, KEEP].flatten(1)
    else:
        whole = whole[:, KEEP]
    torch.testing.assert_close(part, whole)


def test_layers_that_mix_maps_are_not_marked():
    for name in ("Softmax", "LogSoftmax", "Concatenate", "Reshape", "Transpose", "Affine",
                 "Convolution", "LayerNormalization", "GroupNormalization", "PReLU"):
        assert CATALOG[name].channels == "", name
