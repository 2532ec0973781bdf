"""IO layers: where dataset variables enter the network."""
from nodes.nnc import NncLayer, same
from nodes.spec import LayerSpec, LazyModule, Prop, generator_props

nn = LazyModule("torch.nn")

Input = LayerSpec(
    name="Input",
    category="IO",
    help="Feeds one dataset variable into the network, or generated data (a GAN's noise, a "
         "VAE's sampling). Size excludes the batch axis: 1,28,28 for a gray 28×28 image, 4 for "
         "four features, 50,1 for a 50-step sequence.",
    inputs=(),
    props=(
        Prop("Size", "shape", (1, 28, 28), "Shape of one sample, without the batch axis.", min=1),
        Prop("Dataset", "str", "x", "Name of the dataset variable fed here (a CSV header name)."),
    ) + generator_props(""),
    infer=lambda inputs, p: p["Size"],
    build=lambda inputs, p: nn.Identity(),
    is_input=True,
    nnc=NncLayer("Input", same("Size", "Dataset", "Generator", "GeneratorMultiplier")),
)

SPECS = [Input]
