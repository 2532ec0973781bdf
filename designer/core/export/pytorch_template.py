"""The text of an exported PyTorch file, and of the program that checks it.

``pytorch_code`` fills the ``{fields}`` with ``str.format``; LOADER and CHECK go out as they are.
"""

HEADER = '''"""{project}: a network exported from nn-designer as standalone PyTorch code.
{description}
It needs only torch. The weights are in {module}.safetensors beside this file
({weights}):

    import torch
    from {module} import {cls}, load_weights

    model = {cls}()
    model.load_state_dict(load_weights("{module}.safetensors"))
    model.eval()
    with torch.no_grad():
        {returns} = model({args})

``safetensors.torch.load_file`` reads the weights file as well as ``load_weights`` does.

Inputs (batch axis first):
{inputs}
Outputs:
{outputs}
{module}.preprocessing.json says the same for programs.
"""'''

LAYER_CLASSES = '''# ---- layer classes (nn-designer's layer library) ----


{classes}'''

NETWORK = '''# ---- the network ----

class {cls}(nn.Module):
    """{project}: inputs {inputs}; returns {outputs}."""

    def __init__(self):
        super().__init__()
{init}

    def forward(self, {args}):
{forward}'''

LOADER = '''# ---- reading the weights with torch alone ----

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
           "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
           "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def load_weights(path):
    """The tensors of a .safetensors file (an 8-byte header size, a JSON header, raw
    little-endian data), read without the safetensors package."""
    with open(path, "rb") as f:
        data = f.read()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + size])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = (8 + size + offset for offset in entry["data_offsets"])
        dtype = _DTYPES[entry["dtype"]]
        flat = (torch.frombuffer(bytearray(data[start:end]), dtype=dtype) if end > start
                else torch.empty(0, dtype=dtype))
        tensors[name] = flat.reshape(entry["shape"])
    return tensors'''

MAIN = '''if __name__ == "__main__":
    import pathlib

    model = {cls}()
    model.load_state_dict(load_weights(pathlib.Path(__file__).with_suffix(".safetensors")))
    model.eval()
    with torch.no_grad():
        result = model({example_inputs})
    for tensor in result if isinstance(result, tuple) else (result,):
        print(tuple(tensor.shape), tensor.flatten()[:5].tolist())'''

# Run in a fresh, isolated interpreter (the app is not importable there): argv is the exported
# file, its weights, the class name, a file of input cases (replaced by the outputs) and the
# number of threads.
CHECK = r'''
import importlib.util, sys
import torch
torch.set_num_threads(int(sys.argv[5]))
path, weights, cls, io_path = sys.argv[1:5]
spec = importlib.util.spec_from_file_location("exported_model", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = getattr(module, cls)()
state = module.load_weights(weights)
try:
    from safetensors.torch import load_file
except ImportError:
    pass
else:
    other = load_file(weights)
    assert other.keys() == state.keys() and all(torch.equal(other[k], state[k]) for k in state), \
        "load_weights and safetensors read different tensors"
model.load_state_dict(state)
model.eval()
stray = sorted(m for m in sys.modules if m.split(".")[0] in ("designer", "nodes"))
assert not stray, f"the exported file imported {stray}"
cases = torch.load(io_path, weights_only=True)
outputs = []
with torch.no_grad():
    for inputs in cases:
        out = model(*inputs)
        outputs.append(list(out) if isinstance(out, tuple) else [out])
torch.save(outputs, io_path)
'''
