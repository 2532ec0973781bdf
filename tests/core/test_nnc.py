"""Opening Neural Network Console projects: NNC's samples give the layers, links, shapes and
parameter totals NNC computes (expected values worked out by hand from NNC's layer reference,
not by this app), the samples that need structures this app lacks list exactly those, a project
written back to NNC's format opens as the same project, and broken files are refused with the
line at fault."""
import json
from pathlib import Path

import pytest
import torch

from designer.core import cli, nnc
from designer.core.analysis import analyze
from designer.core.compiler import compile_network
from designer.core.nnc.ini import NncError
from designer.core.project import VERSION, load

SAMPLES = Path(__file__).parent / "nnc_samples"


def sample(name: str) -> Path:
    return SAMPLES / f"{name}.sdcproj"


# ---- the samples, by hand --------------------------------------------------------------------
# (layer, type, output shape without the batch axis, parameters), in the file's [Layer_i] order
# where it matters only for the ids; losses are scalars here (NNC shows 1 or the input shape).

LENET = {
    "Input": ("Input", (1, 28, 28), 0),
    "Convolution": ("Convolution", (16, 22, 22), 16 * 1 * 7 * 7 + 16),  # 800
    "ReLU": ("ReLU", (16, 22, 22), 0),
    "MaxPooling": ("MaxPooling", (16, 11, 11), 0),
    "Convolution_2": ("Convolution", (30, 9, 9), 30 * 16 * 3 * 3 + 30),  # 4350
    "MaxPooling_2": ("MaxPooling", (30, 4, 4), 0),
    "Tanh_2": ("Tanh", (30, 4, 4), 0),
    "Affine": ("Affine", (150,), 480 * 150 + 150),  # 72150
    "ReLU_2": ("ReLU", (150,), 0),
    "Affine_2": ("Affine", (10,), 150 * 10 + 10),  # 1510
    "Softmax": ("Softmax", (10,), 0),
    "CategoricalCrossEntropy": ("CategoricalCrossEntropy", (1,), 0),
}
LENET_LINKS = [("Input", "Convolution"), ("Convolution_2", "MaxPooling_2"),
               ("MaxPooling_2", "Tanh_2"), ("Affine_2", "Softmax"),
               ("MaxPooling", "Convolution_2"), ("Convolution", "ReLU"), ("ReLU", "MaxPooling"),
               ("Affine", "ReLU_2"), ("ReLU_2", "Affine_2"),
               ("Softmax", "CategoricalCrossEntropy"), ("Tanh_2", "Affine")]

BINARY_CNN = {
    "Input": ("Input", (1, 28, 28), 0),
    "Convolution": ("Convolution", (16, 24, 24), 16 * 25 + 16),  # 416
    "MaxPooling": ("MaxPooling", (16, 12, 12), 0),
    "Tanh": ("Tanh", (16, 12, 12), 0),
    "Convolution_2": ("Convolution", (8, 8, 8), 8 * 16 * 25 + 8),  # 3208
    "MaxPooling_2": ("MaxPooling", (8, 4, 4), 0),
    "Tanh_2": ("Tanh", (8, 4, 4), 0),
    "Affine": ("Affine", (10,), 128 * 10 + 10),  # 1290
    "Tanh_3": ("Tanh", (10,), 0),
    "Affine_2": ("Affine", (1,), 10 + 1),
    "Sigmoid": ("Sigmoid", (1,), 0),
    "BinaryCrossEntropy": ("BinaryCrossEntropy", (1,), 0),
}

IRIS = {
    "Input": ("Input", (4,), 0),
    "Affine": ("Affine", (32,), 4 * 32 + 32),  # 160
    "ReLU": ("ReLU", (32,), 0),
    "Affine_2": ("Affine", (3,), 32 * 3 + 3),  # 99
    "Softmax": ("Softmax", (3,), 0),
    "CategoricalCrossEntropy": ("CategoricalCrossEntropy", (1,), 0),
}

AUTO_ENCODER = {
    "Input": ("Input", (1, 28, 28), 0),
    "Dropout": ("Dropout", (1, 28, 28), 0),
    "Affine": ("Affine", (256,), 784 * 256 + 256),  # 200960
    "Sigmoid": ("Sigmoid", (256,), 0),
    "Affine_2": ("Affine", (1, 28, 28), 256 * 784 + 784),  # 201488
    "Sigmoid_2": ("Sigmoid", (1, 28, 28), 0),
    "SquaredError": ("SquaredError", (1, 28, 28), 0),
}

LOGISTIC = {
    "Input": ("Input", (1, 28, 28), 0),
    "Affine": ("Affine", (1,), 784 + 1),
    "Sigmoid": ("Sigmoid", (1,), 0),
    "BinaryCrossEntropy": ("BinaryCrossEntropy", (1,), 0),
}


def chain(layers: dict) -> list[tuple[str, str]]:
    names = list(layers)
    return list(zip(names, names[1:]))


SUPPORTED = {
    # sample: (layers, links in [Link_i] order, NNC's total parameter count)
    "image_recognition_MNIST_LeNet": (LENET, LENET_LINKS, 78_810),
    "tutorial_basics_02_binary_cnn": (BINARY_CNN, chain(BINARY_CNN), 4_925),
    "classification_iris_iris": (IRIS, chain(IRIS), 259),
    "tutorial_basics_06_auto_encoder": (AUTO_ENCODER, chain(AUTO_ENCODER), 402_448),
    "tutorial_basics_01_logistic_regression": (
        LOGISTIC, [("Affine", "Sigmoid"), ("Sigmoid", "BinaryCrossEntropy"),
                   ("Input", "Affine")], 785),
}


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_a_sample_opens_with_nncs_layers_links_shapes_and_totals(name):
    layers, links, total = SUPPORTED[name]
    imported = nnc.import_project(sample(name))
    net = imported.project.network()
    assert imported.notes == []  # nothing in these samples is left behind
    assert len(net.nodes) == len(layers) and sorted(n.name for n in net.nodes) == sorted(layers)
    assert len(net.links) == len(links)
    by_id = {n.id: n.name for n in net.nodes}
    assert [(by_id[k.src], by_id[k.dst]) for k in net.links] == links
    analysis = analyze(net)
    assert analysis.ok, analysis.problems
    for node in net.nodes:
        kind, shape, params = layers[node.name]
        info = analysis.nodes[node.id]
        assert (node.type, info.shape, info.params) == (kind, shape, params), node.name
    assert analysis.total_params == total == sum(p for _, _, p in layers.values())


def test_lenet_carries_its_settings_layout_description_and_training_config():
    imported = nnc.import_project(sample("image_recognition_MNIST_LeNet"))
    project = imported.project
    conv = project.network().find("Convolution")
    assert conv.props["KernelShape"] == [7, 7] and conv.props["Padding"] == [0, 0]
    assert conv.props["W.Initializer"] == "NormalConvolutionGlorot"
    assert project.network().find("MaxPooling").props["Strides"] == [2, 2]  # *KernelShape
    assert project.description == "dataset-require=MNIST"
    # NNC's 24-pixel grid, one row 48 apart: x - 24, 2·(y - 24)
    assert project.network().find("Input").pos == (0.0, 0.0)
    assert project.network().find("Convolution").pos == (0.0, 96.0)
    cfg = project.training
    assert (cfg.network, cfg.epochs, cfg.batch_size) == ("Main", 10, 64)
    assert cfg.optimizer == {"type": "Adam", "lr": 0.001, "beta1": 0.9, "beta2": 0.999,
                             "eps": 1e-08, "weight_decay": 0.0}
    assert cfg.schedule == {"type": "constant"}  # no scheduler key: Exponential with γ 1
    assert imported.missing_datasets == {
        "Training": r"{SDCPATH}samples\sample_dataset\mnist\mnist_training.csv",
        "Validation": r"{SDCPATH}samples\sample_dataset\mnist\mnist_test.csv"}
    # the project keeps NNC's URI until it is pointed elsewhere, and says what is missing
    assert project.datasets["training"].source == imported.missing_datasets["Training"]
    assert project.datasets["training"].normalize and project.datasets["training"].shuffle
    assert not project.datasets["validation"].shuffle
    assert project.datasets["training"].cache  # NNC's EnableCache=1: our image cache
    assert "Dataset not found: Training" in imported.message()


def test_padding_computed_from_border_mode_and_the_old_dropout_spelling():
    binary = nnc.import_project(sample("tutorial_basics_02_binary_cnn")).project.network()
    assert binary.find("Convolution").props["Padding"] == [0, 0]  # valid: *ConvolutionPadding…
    auto = nnc.import_project(sample("tutorial_basics_06_auto_encoder")).project.network()
    assert auto.find("Dropout").props == {"P": 0.5}  # SkipAtInspection=True is SkipAtTest
    assert auto.find("SquaredError").props["T.Dataset"] == "x"


def test_iris_description_and_dataset_sizes():
    project = nnc.import_project(sample("classification_iris_iris")).project
    assert project.description.splitlines() == [
        "Multivariate classification of Iris flower dataset.",
        "https://en.wikipedia.org/wiki/Iris_flower_data_set"]
    assert (project.training.epochs, project.training.batch_size) == (500, 10)


# NNC's samples of repeat blocks and recurrent loops: (the trained network's parameters and
# multiply-adds, counted written out: every repetition, every time step)
STRUCTURED_SAMPLES = {
    "tutorial_basics_12_residual_learning": (275_018, 78_303_892),
    "image_recognition_CIFAR10_resnet_resnet-110": (1_751_002, 257_866_442),
    "tutorial_recurrent_neural_networks_elman_net": (1_625, 44_718),
    "tutorial_recurrent_neural_networks_long_short_term_memoryLSTM": (6_413, 182_702),
}


@pytest.mark.parametrize("name", sorted(STRUCTURED_SAMPLES))
def test_samples_of_repeat_blocks_and_recurrent_loops_open_count_run_and_go_back(name,
                                                                                  tmp_path):
    project = nnc.import_project(sample(name)).project
    for network in project.networks:  # the runtime network too: the same weights, by name
        result = analyze(network, project=project)
        assert result.ok, (network.name, result.problems)
        assert result.total_params == STRUCTURED_SAMPLES[name][0]
    trained = analyze(project.network(), project=project)
    assert (trained.total_params, trained.total_macs) == STRUCTURED_SAMPLES[name]
    compiled = compile_network(project.network(), project=project)
    inputs = [torch.rand((2,) + compiled.input_shapes[v]) for v in compiled.input_vars]
    compiled.infer.eval()
    out = compiled.infer(*inputs)
    assert torch.isfinite(out[0] if isinstance(out, tuple) else out).all()
    nnc.write_project(project, tmp_path / "again.sdcproj")
    again = nnc.import_project(tmp_path / "again.sdcproj").project
    assert again.to_dict()["networks"] == project.to_dict()["networks"]


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_writing_a_sample_back_to_nnc_gives_the_same_project(name, tmp_path):
    first = nnc.import_project(sample(name))
    notes = nnc.write_project(first.project, tmp_path / f"{name}.sdcproj")
    assert notes == []
    text = (tmp_path / f"{name}.sdcproj").read_bytes()
    assert text.startswith(b"[Engine]\r\nSDeepEngineType=NNabla\r\n")  # CRLF, as NNC writes
    again = nnc.import_project(tmp_path / f"{name}.sdcproj")
    assert again.project.to_dict() == first.project.to_dict()
    assert again.notes == [] and again.missing_datasets == first.missing_datasets


# ---- the command line ------------------------------------------------------------------------

def test_import_nnc_writes_a_project_and_says_what_is_missing(tmp_path, capsys):
    data = tmp_path / "iris.csv"
    data.write_text("x__0,x__1,x__2,x__3,y\n5.1,3.5,1.4,0.2,0\n", encoding="utf-8")
    out = tmp_path / "out" / "iris.nnd"
    assert cli.main(["import-nnc", str(sample("classification_iris_iris")), "-o", str(out),
                     "--dataset", f"Training={data}"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        r"- Dataset not found: Validation ({SDCPATH}samples\sample_dataset\iris_flower_dataset"
        r"\iris_flower_dataset_validation_delo.csv); point it at a local NNC-format CSV file "
        "(--dataset Validation=PATH)",
        f"wrote {out}: network Main with 6 layers and 5 links"]
    project = load(out)
    assert project.datasets["training"].source == "../iris.csv"  # relative to the project
    assert json.loads(out.read_text())["version"] == VERSION

    assert cli.main(["import-nnc", str(sample("classification_iris_iris")), "-o",
                     str(tmp_path / "x.nnd"), "--dataset", "Test=a.csv"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--dataset Test: the project has no dataset of that name (it has Training, Validation)")
    assert cli.main(["import-nnc", str(sample("classification_iris_iris")), "-o",
                     str(tmp_path / "x.nnd"), "--dataset", "Training"]) == 2
    assert "expected NAME=PATH" in capsys.readouterr().err


# ---- NNC's conventions, on small hand-written files -------------------------------------------

def sdcproj(layers, links, optimizer=(), config=(), datasets=(("Training", ""),),
            extra="", network_sections=None) -> str:
    """A .sdcproj text. ``layers``: (type, {property: value}) with Name first; ``links``:
    (source index, destination index, pin). IDs are 10 + the index, to differ from it."""
    out = ["[Engine]", "SDeepEngineType=NNabla", "[Network_Global]",
           f"NumLayer={len(layers)}", f"NumLink={len(links)}"]
    for i, (kind, props) in enumerate(layers):
        out += [f"[Layer_{i}]", f"ID={10 + i}", f"Type={kind}", "Position_0=24",
                f"Position_1={24 + 48 * i}"]
        for k, (key, value) in enumerate(props.items()):
            out += [f"Property_{k}_Name={key}", f"Property_{k}_Value={value}"]
        out.append(f"NumProperty={len(props)}")
    for i, (src, dst, pin) in enumerate(links):
        out += [f"[Link_{i}]", f"ID={i}", f"SourceLayerID={10 + src}", "SourcePinIndex=0",
                f"DestLayerID={10 + dst}", f"DestPinIndex={pin}"]
    out += ["[Dataset]", f"Num={len(datasets)}", "MainIndex=0"]
    for i, (name, uri) in enumerate(datasets):
        out += [f"[Dataset_{i}]", f"Name={name}", f"URI={uri}", "Shuffle=1",
                "ImageNormalization=0", "NumData=100"]
    out += ["[Config]", "MaxEpoch=20", "BatchSize=10", "NumOptimizer=1", *config,
            "[Optimizer_0]", "Optimizer_NetworkName=Main", "Optimizer_DatasetName=Training",
            "SolverName=Sgd", "SolverParameterNum=1", "SolverParameterName_0=LearningRate",
            "SolverParameter_0=0.1", *optimizer]
    return "\n".join(out) + "\n" + extra


def opened(tmp_path, text, name="p"):
    path = tmp_path / f"{name}.sdcproj"
    path.write_text(text, encoding="utf-8")
    return nnc.import_project(path)


INPUT = ("Input", {"Name": "Input", "Size": "3,8,8", "Dataset": "x"})
LOSS = ("SquaredError", {"Name": "Loss", "T.Dataset": "y"})


def test_several_links_into_one_input_follow_the_link_sections_order(tmp_path):
    """NNC orders them by [Link_i] index: Concatenate in that order, Add2's first link to x0."""
    layers = [INPUT, ("ReLU", {"Name": "A"}), ("Tanh", {"Name": "B"}),
              ("Concatenate", {"Name": "Cat", "Axis": "0"}), ("Add2", {"Name": "Sum"}),
              ("Sub2", {"Name": "Diff"}), LOSS]
    links = [(0, 1, 0), (0, 2, 0), (2, 3, 0), (1, 3, 0), (2, 4, 0), (1, 4, 0),
             (3, 5, 0), (4, 6, 0), (0, 5, 1)]
    net = opened(tmp_path, sdcproj(layers, links)).project.network()
    into = {name: [(net.node(k.src).name, k.port) for k in net.links
                   if k.dst == net.find(name).id] for name in ("Cat", "Sum", "Diff")}
    assert into == {"Cat": [("B", 0), ("A", 0)], "Sum": [("B", 0), ("A", 1)],
                    "Diff": [("Cat", 0), ("Input", 1)]}  # Sub2's pin 1 is its input R
    assert [n.id for n in net.nodes] == [f"n{i}" for i in range(1, 8)]  # from [Layer_i]


def test_computed_values_and_what_is_not_carried_over(tmp_path):
    layers = [INPUT,
              ("Convolution", {"Name": "Same", "OutMaps": "4", "KernelShape": "3,3",
                               "BorderMode": "same", "Padding": "*ConvolutionPaddingSize",
                               "Dilation": "2,2", "W.Initializer": "NormalConvolutionHe",
                               "ParameterScope": "*Name", "W.File": ""}),
              ("Convolution", {"Name": "Full", "OutMaps": "4", "KernelShape": "2,2",
                               "BorderMode": "full", "Padding": "*ConvolutionPaddingSize",
                               "ParameterScope": "Same", "Group": "1.0"}),
              ("AveragePooling", {"Name": "Pool", "KernelShape": "3,3", "Strides": "2,2",
                                  "IncludingPad": "False", "IgnoreBorder": "False",
                                  "Padding": "1,1"}),
              ("MaxPooling", {"Name": "Half", "KernelShape": "2,2", "Strides": "*KernelShape"}),
              ("Slice", {"Name": "Cut", "Start": "0,1,1", "Stop": "*Input", "Step": "1,1,1"}),
              ("LeakyReLU", {"Name": "y'", "Alpha": "0.2", "InPlace": "True",
                             "Color": "red"}),
              ("Dropout", {"Name": "Drop", "P": "0.1", "Seed": "7", "SkipAtInspection": "False"}),
              LOSS, ("MulScalar", {"Name": "Weight", "Value": "2"})]
    links = [(i, i + 1, 0) for i in range(len(layers) - 1)]
    imported = opened(tmp_path, sdcproj(layers, links))
    net = imported.project.network()
    assert net.find("Same").props["Padding"] == [2, 2]  # same: ⌊d·(k−1)/2⌋
    assert net.find("Same").props["W.Initializer"] == "NormalConvolutionHeForward"  # old name
    assert net.find("Full").props["Padding"] == [1, 1]  # full: d·(k−1)
    assert net.find("Full").props["Group"] == 1
    assert net.find("Half").props["Strides"] == [2, 2]  # *KernelShape
    info = analyze(net).nodes
    assert net.find("Cut").props["Stop"] == list(info[net.find("Half").id].shape) == [4, 2, 2]
    assert net.find("y_").props["Alpha"] == 0.2
    assert net.find("Same").props["ParameterScope"] == ""  # *Name: its own
    assert net.find("Full").props["ParameterScope"] == "Same"  # shares Same's weights
    assert imported.notes == [
        "AveragePooling `Pool`: IncludingPad=False not carried over (only True is)",
        "AveragePooling `Pool`: IgnoreBorder=False with a KernelShape larger than Strides: the "
        "output size may differ from NNC's (it rounds ⌈(size + 2·Padding)/Strides⌉)",
        "LeakyReLU `y'`: renamed `y_` (names here are letters, digits and _, each once)",
        "LeakyReLU `y'`: property Color=red not carried over (this app's LeakyReLU has no such "
        "property)",
        "Dropout `Drop`: Seed=7 not carried over (only -1 is)",
        "Dropout `Drop`: SkipAtTest=False not carried over (only True is)"]
    analysis = analyze(net)  # NNC's rule holds: a loss may feed a layer; an unconnected
    assert any("its output feeds nothing, so its mean is added" in p.message  # output adds
               for p in analysis.notices)  # to the loss
    assert any("shares the weights of Same (ParameterScope Same) but its KernelShape differs"
               in p.message for p in analysis.problems)


def test_side_inputs_we_read_from_properties_are_listed(tmp_path):
    layers = [INPUT, ("Affine", {"Name": "Fc", "OutShape": "3"}), ("Identity", {"Name": "T"}),
              ("SquaredError", {"Name": "Loss", "T.Dataset": "y"})]
    imported = opened(tmp_path, sdcproj(layers, [(0, 1, 0), (1, 3, 0), (0, 2, 0), (2, 1, 1)]))
    assert imported.notes[0] == ("Affine `Fc`: input W linked from `T` not carried over (this "
                                 "app's Affine reads W from its properties)")
    assert len(imported.project.network().links) == 3


@pytest.mark.parametrize("keys, schedule, note", [
    ([], {"type": "constant"}, None),  # no scheduler key: Exponential, γ 1
    (["LearningRateScheduler=Exponential", "LearningRateMultiplier=0.5",
      "LearningRateUpdateInterval=3", "LearningRateUpdateIntervalUnit=0"],
     {"type": "step", "step": 3, "gamma": 0.5}, None),  # NNC's staircase, in epochs
    (["LearningRateMultiplier=0.5", "LearningRateUpdateInterval=20"],  # no unit: iterations
     {"type": "step", "step": 2, "gamma": 0.5}, None),  # 100 samples / 10 = 10 per epoch
    (["LearningRateMultiplier=0.5", "LearningRateUpdateInterval=5"],
     {"type": "exponential", "gamma": 0.25}, "approximated by a smooth decay"),
    (["LearningRateScheduler=Step", "LearningRateMultiplier=0.1", "LearningRateSteps=5,10,15",
      "LearningRateUpdateIntervalUnit=0"], {"type": "step", "step": 5, "gamma": 0.1}, None),
    (["LearningRateScheduler=Step", "LearningRateMultiplier=0.1", "LearningRateSteps=4,10",
      "LearningRateUpdateIntervalUnit=0"], {"type": "step", "step": 4, "gamma": 0.1},
     "not evenly spaced"),
    (["LearningRateScheduler=Cosine", "LearningRateMultiplier=0.2",
      "LearningRateUpdateInterval=31200"], {"type": "cosine", "min_lr": 0.0}, None),
    (["LearningRateScheduler=Polynomial", "LearningRatePower=2"],
     {"type": "polynomial", "power": 2.0, "min_lr": 0.0}, None),
    (["LearningRateScheduler=Linear"], {"type": "constant"}, "cannot run it either"),
    (["LearningRateScheduler=Cosine", "LearningRateWarmupScheduler=Linear",
      "LearningRateWarmupLength=2"], {"type": "cosine", "min_lr": 0.0, "warmup": 2},
     "linear warm-up of 2 epochs: approximated"),  # no warm-up unit: epochs
])
def test_learning_rate_schedules_in_nncs_units(tmp_path, keys, schedule, note):
    imported = opened(tmp_path, sdcproj([INPUT, LOSS], [(0, 1, 0)], optimizer=keys))
    assert imported.project.training.schedule == schedule
    assert (note is None and imported.notes == []) or any(note in n for n in imported.notes)


def test_solvers_and_their_parameters(tmp_path):
    keys = ["SolverName=RMSprop", "SolverParameterNum=2", "SolverParameterName_0=Decay",
            "SolverParameter_0=0.8", "SolverParameterName_1=alpha", "SolverParameter_1=3",
            "WeightDecay=0.001", "UpdateInterval=2"]
    text = sdcproj([INPUT, LOSS], [(0, 1, 0)]).replace(
        "SolverName=Sgd\nSolverParameterNum=1\nSolverParameterName_0=LearningRate\n"
        "SolverParameter_0=0.1\n", "\n".join(keys) + "\n")
    imported = opened(tmp_path, text)
    assert imported.project.training.optimizer == {"type": "RMSprop", "lr": 0.001, "rho": 0.8,
                                                   "eps": 1e-8, "weight_decay": 0.001}
    assert imported.notes == [
        "[Optimizer_0] UpdateInterval=2 (gradients summed over several iterations) not carried "
        "over",
        "[Optimizer_0] solver parameter 'alpha' not carried over (RMSprop has LearningRate, "
        "Decay, Epsilon)"]


def test_datasets_are_found_beside_the_file_or_given(tmp_path):
    (tmp_path / "samples" / "data").mkdir(parents=True)
    (tmp_path / "samples" / "data" / "train.csv").write_text("x,y\n1,2\n")
    text = sdcproj([INPUT, LOSS], [(0, 1, 0)], datasets=[
        ("Training", r"{SDCPATH}samples\data\train.csv"),
        ("Validation", "ccbf15a0-bcb6-4ba6-b10e-27fc877c4348/12345"), ("Training2", "")])
    imported = opened(tmp_path, text)
    datasets = imported.project.datasets
    assert datasets["training"].source == str(tmp_path / "samples" / "data" / "train.csv")
    assert imported.missing_datasets == {"Validation": "ccbf15a0-bcb6-4ba6-b10e-27fc877c4348/"
                                                       "12345", "Training2": ""}
    assert imported.notes == [
        "dataset Validation: ccbf15a0-bcb6-4ba6-b10e-27fc877c4348/12345 is a dataset in NNC's "
        "cloud, not carried over",
]
    assert datasets["Training2"].source == ""  # kept under its own name, as yet unfound
    given = nnc.import_project(tmp_path / "p.sdcproj", {"Validation": "embedded:iris"})
    assert given.project.datasets["validation"].source == "embedded:iris"
    assert given.missing_datasets == {"Training2": ""}


# ---- broken files ----------------------------------------------------------------------------

LENET_TEXT = sample("image_recognition_MNIST_LeNet").read_text(encoding="utf-8")


def refusal(tmp_path, text) -> str:
    path = tmp_path / "broken.sdcproj"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NncError) as refused:
        nnc.import_project(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and "Traceback" not in message
    return message[len(f"{path}: "):]


@pytest.mark.parametrize("old, new, expected", [
    ("NumLayer=12", "NumLayer=1000000000", "[Network_Global] NumLayer=1000000000 is more layers "
                                           "than this app opens (at most 100000)"),
    ("NumLayer=12", "NumLayer=13", "[Network_Global] NumLayer=13, but the file holds 12 layers"),
    ("NumLink=11", "NumLink=-1", "[Network_Global] NumLink must be at least 0, not -1"),
    ("NumLink=11", "NumLink=eleven", "[Network_Global] NumLink must be a number, not 'eleven'"),
    ("NumProperty=5", "NumProperty=99999999", "[Layer_0] NumProperty=99999999 is more "
                                              "properties than this app opens (at most 1000)"),
    ("Position_0=24", "Position_0=1e999", "[Layer_0] Position_0 must be a finite number"),
    ("DestLayerID=1", "DestLayerID=77", "[Link_0] DestLayerID=77: no layer has that ID"),
    ("SourcePinIndex=0", "SourcePinIndex=1", "[Link_0] SourcePinIndex must be 0"),
    ("DestPinIndex=0", "DestPinIndex=3", "[Link_0] DestPinIndex=3, but Convolution has 2 side "
                                         "input(s)"),
    ("Property_1_Value=1,28,28", "Property_1_Value=1;28", "Input `Input`: Size must be whole "
                                                          "numbers separated by commas"),
    ("Property_1_Value=16", "Property_1_Value=0", "Convolution `Convolution`: OutMaps must be at "
                                                  "least 1, not 0"),
    ("ID=4", "ID=1", "[Layer_3] ID=1 is also the ID of [Layer_1]"),
    ("MaxEpoch=10", "MaxEpoch=ten", "[Config] MaxEpoch must be a number, not 'ten'"),
    ("BatchSize=64", "BatchSize=0", "[Config] BatchSize must be at least 1, not 0"),
    ("Num=2", "Num=1000000000", "[Dataset] Num=1000000000 is more datasets than this app opens "
                                "(at most 1000)"),
    ("SDeepEngineType=NNabla", "SDeepEngineType=Caffe", None),
    ("[Link_3]", "Link_3", None),
    ("[Link_3]", "[Link_2]", None),
    ("SourceLayerID=9", "SourceLayerID=9\nSourceLayerID=9", None),
    ("Optimizer_NetworkName=Main", "Optimizer_NetworkName=Other", None),
])
def test_a_broken_file_is_refused_with_its_line(tmp_path, old, new, expected):
    assert old in LENET_TEXT
    text = LENET_TEXT.replace(old, new, 1)
    message = refusal(tmp_path, text)
    changed = next(i for i, (a, b) in enumerate(zip(LENET_TEXT.split("\n"), text.split("\n")),
                                                start=1) if a != b)
    if message.startswith("line "):
        assert message.startswith(f"line {changed}: ")
    if expected is not None:
        assert expected in message, message


def test_missing_sections_keys_and_names(tmp_path):
    assert refusal(tmp_path, "") == "not a Neural Network Console project (no [Section] in it)"
    assert refusal(tmp_path, "[Engine]\nSDeepEngineType=NNabla\n") == \
        "section [Network_Global] is missing"
    assert "not a Neural Network Console project for NNabla" in refusal(
        tmp_path, LENET_TEXT.replace("[Engine]\nSDeepEngineType=NNabla\nRNNTrainingMode=0\n", ""))
    assert refusal(tmp_path, LENET_TEXT.replace("Type=ReLU\n", "", 1)).endswith(
        "[Layer_9] has no Type")
    assert refusal(tmp_path, LENET_TEXT.replace("Property_0_Value=ReLU\n", "", 1)).endswith(
        "[Layer_9] has no Property_0_Value")
    assert "two layers are named 'ReLU'" in refusal(
        tmp_path, LENET_TEXT.replace("Property_0_Value=ReLU_2", "Property_0_Value=ReLU"))
    assert "expected Key=Value" in refusal(tmp_path, LENET_TEXT + "garbage line\n")
    binary = tmp_path / "binary.sdcproj"
    binary.write_bytes(b"\x00\x01PK\x03")
    with pytest.raises(NncError, match="a binary file"):
        nnc.import_project(binary)
    with pytest.raises(NncError, match="file not found"):
        nnc.import_project(tmp_path / "nowhere.sdcproj")


def test_fuzzed_files_give_clear_refusals_only(tmp_path):
    """Truncated at many points, lines deleted, values garbled, counts enlarged: each file
    opens or is refused with a message naming the file (never another exception)."""
    import random

    rng = random.Random(7)
    lines = LENET_TEXT.split("\n")
    cases = [LENET_TEXT[:cut] for cut in range(0, len(LENET_TEXT), len(LENET_TEXT) // 60)]
    for _ in range(120):
        i = rng.randrange(len(lines))
        garbled = list(lines)
        roll = rng.randrange(4)
        if roll == 0:
            del garbled[i]
        elif roll == 1 and "=" in garbled[i]:
            key = garbled[i].split("=")[0]
            garbled[i] = f"{key}={rng.choice(['', 'x', '-5', '1e309', '3.5', '*Input', '9' * 30])}"
        elif roll == 2:
            garbled.insert(i, garbled[i])
        else:
            garbled[i] = garbled[i][: rng.randrange(len(garbled[i]) + 1)]
        cases.append("\n".join(garbled))
    path = tmp_path / "fuzz.sdcproj"
    outcomes = {"opened": 0, "refused": 0}
    for text in cases:
        path.write_text(text, encoding="utf-8")
        try:
            nnc.import_project(path)
            outcomes["opened"] += 1
        except NncError as e:
            assert str(e).startswith(f"{path}: ") and len(str(e)) < 600
            outcomes["refused"] += 1
    assert outcomes["opened"] > 10 and outcomes["refused"] > 50


# ---- NNC's samples train here ----------------------------------------------------------------

@pytest.fixture(scope="module")
def nnc_csv(tmp_path_factory):
    """The embedded data written out as NNC CSV files, split 80/20 into training and
    validation files beside them (so image paths stay relative to the CSV)."""
    import csv
    import random

    from designer.core.data import embedded, write_csv

    root = tmp_path_factory.mktemp("nnc_data")
    written = {}

    def split(name, keep=None):
        if name not in written:
            written[name] = write_csv(embedded(name), root / name)
        rows = list(csv.reader(written[name].read_text().splitlines()))
        header, rows = rows[0], rows[1:]
        if keep:  # a two-class subset, its classes relabelled 0 and 1
            rows = [r[:-1] + [str(keep.index(float(r[-1])))] for r in rows
                    if float(r[-1]) in keep]
        random.Random(0).shuffle(rows)
        cut = int(len(rows) * 0.8)
        files = {}
        for part, chunk in (("Training", rows[:cut]), ("Validation", rows[cut:])):
            files[part] = root / name / f"{part.lower()}{'_subset' if keep else ''}.csv"
            with open(files[part], "w", newline="", encoding="utf-8") as f:
                csv.writer(f).writerows([header] + chunk)
        return {k: str(v) for k, v in files.items()}

    return split


@pytest.mark.slow
@pytest.mark.parametrize("name, data, keep, best", [
    ("classification_iris_iris", "iris", None, 0.07),  # at least 93 % on held-out flowers
    ("image_recognition_MNIST_LeNet", "digits28", None, 0.05),  # at least 95 %
    ("tutorial_basics_02_binary_cnn", "digits28", [4.0, 9.0], 0.05),  # 4 or 9
])
def test_nnc_samples_train_with_their_own_settings(nnc_csv, tmp_path, name, data, keep, best):
    from designer.core.trainer import train

    imported = nnc.import_project(sample(name), nnc_csv(data, keep))
    assert imported.missing_datasets == {}
    project = imported.project
    project.training.device = "cpu"
    result = train(project, run_dir=tmp_path / "run")
    assert result.status == "done", result.message
    assert result.epochs_done == project.training.epochs  # NNC's MaxEpoch: 500, 10, 100
    assert result.best_val_error <= best


# ---- our projects, written for NNC -----------------------------------------------------------

# the samples of units are not written for NNC yet (Unit and Argument carry no NNC facts): they
# are refused, naming the layers (below)
STRUCTURED = {"digits_gan", "digits_vgg_units"}
OURS = sorted(p for p in (Path(__file__).parents[2] / "projects").glob("*.nnd")
              if p.stem != "sine_lstm" and p.stem not in STRUCTURED)


@pytest.mark.parametrize("name, layers", [
    ("digits_vgg_units", "Unit `Block1`, Unit `Block2`, Unit `Block3`, Argument `Maps`"),
])
def test_structured_samples_are_refused_for_nnc_naming_the_layers(name, layers, tmp_path):
    with pytest.raises(NncError) as refused:
        nnc.write_project(load(Path(__file__).parents[2] / "projects" / f"{name}.nnd"),
                          tmp_path / "out.sdcproj")
    assert str(refused.value) == (f"{name} cannot be written for Neural Network Console, which "
                                  f"has no such layer: {layers}")
    assert not (tmp_path / "out.sdcproj").exists()


@pytest.mark.parametrize("path", OURS, ids=[p.stem for p in OURS])
def test_our_samples_written_for_nnc_keep_their_layers_and_training(path, tmp_path):
    """The layers both sides have go across unchanged; positions snap to NNC's grid; what NNC
    cannot hold (an embedded dataset, the validation split) is listed."""
    from designer.core.optim import optimizer_settings

    project = load(path)
    notes = nnc.write_project(project, tmp_path / "out.sdcproj")
    back = nnc.import_project(tmp_path / "out.sdcproj").project
    assert any("is built into this app" in n for n in notes)
    for ours, theirs in zip(project.network().nodes, back.network().nodes, strict=True):
        assert (ours.type, ours.name, ours.props) == (theirs.type, theirs.name, theirs.props)
        assert theirs.pos == (24 * round(ours.pos[0] / 24), 48 * round(ours.pos[1] / 48))
    assert [(k.src, k.dst, k.port) for k in back.network().links] == \
        [(k.src, k.dst, k.port) for k in project.network().links]
    assert back.training.optimizer == {"type": project.training.optimizer["type"],
                                       **optimizer_settings(project.training.optimizer)}
    assert (back.training.epochs, back.training.batch_size, back.training.schedule) == \
        (project.training.epochs, project.training.batch_size, project.training.schedule)
    assert back.datasets["training"].source == project.datasets["training"].source


def test_layers_nnc_lacks_are_refused_and_flatten_becomes_reshape(tmp_path):
    with pytest.raises(NncError) as refused:
        nnc.write_project(load(Path(__file__).parents[2] / "projects" / "sine_lstm.nnd"),
                          tmp_path / "lstm.sdcproj")
    assert refused.value.missing == ["LSTM `LSTM`"]
    assert not (tmp_path / "lstm.sdcproj").exists()
    project = load(Path(__file__).parents[2] / "projects" / "iris_mlp.nnd")
    net = project.network()
    flat = net.add("Flatten", name="Flat")
    first = net.find("Affine")
    link = next(k for k in net.links if k.dst == first.id)
    net.links.remove(link)
    net.connect(link.src, flat)
    net.connect(flat, first)
    nnc.write_project(project, tmp_path / "flat.sdcproj")
    back = nnc.import_project(tmp_path / "flat.sdcproj").project.network()
    assert back.find("Flat").type == "Reshape" and back.find("Flat").props == {"OutShape": [4]}


def test_an_old_windows_file_in_shift_jis_opens_and_says_so(tmp_path):
    text = sdcproj([INPUT, LOSS], [(0, 1, 0)]) + "[Description]\nText=手書き数字\\n2行目\n"
    path = tmp_path / "old.sdcproj"
    path.write_bytes(text.replace("\n", "\r\n").encode("cp932"))
    imported = nnc.import_project(path)
    assert imported.project.description == "手書き数字\n2行目"
    assert imported.encoding == "cp932"
    assert imported.message().endswith("- The file was read as cp932 (Shift-JIS).")
