"""Several networks in one project: weights shared by name, freezing per network, optimizers
taking turns with their own update intervals, monitors, executors, generated inputs, and the
named errors of a configuration that cannot train."""
import csv
import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from designer.core.project import (Dataset, ExecutorConfig, MonitorConfig, Network,
                                   OptimizerConfig, Project, TrainingConfig, from_dict, load)
from designer.core.session import TrainingError, compile_networks, prepare
from designer.core.trainer import train

from tests.conftest import PROJECTS

FROZEN = {"W.LRateMultiplier": 0.0, "b.LRateMultiplier": 0.0}


def gan(epochs: int = 2) -> Project:
    """A tiny GAN on two features: D scores real (1) against generated (0) points; G, frozen in
    TrainD, learns to fool D, frozen in TrainG; Generate is the generator alone."""
    project = Project(name="tiny_gan")
    disc = project.network()
    disc.name = "TrainD"
    real = disc.add("Input", name="Real", Size=[2], Dataset="x")
    d_real = disc.add("Affine", name="D", OutShape=[1])
    noise = disc.add("Input", name="Noise", Size=[4], Generator="Normal")
    g = disc.add("Affine", name="G", OutShape=[2], **FROZEN)
    d_fake = disc.add("Affine", name="D_fake", OutShape=[1], ParameterScope="D")
    for a, b in [(real, d_real), (noise, g), (g, d_fake)]:
        disc.connect(a, b)
    for source, name, label in [(d_real, "RealIsReal", 1.0), (d_fake, "FakeIsFake", 0.0)]:
        disc.connect(source, disc.add("SigmoidCrossEntropy", name=name, **{
            "T.Generator": "Constant", "T.GeneratorMultiplier": label}))
    gen = Network("TrainG")
    chain(gen, gen.add("Input", name="Noise", Size=[4], Generator="Normal"),
          gen.add("Affine", name="G", OutShape=[2]),
          gen.add("Affine", name="D", OutShape=[1], **FROZEN),
          gen.add("SigmoidCrossEntropy", name="FoolD", **{"T.Generator": "Constant",
                                                            "T.GeneratorMultiplier": 1.0}))
    run = Network("Generate")
    chain(run, run.add("Input", name="Noise", Size=[4], Generator="Normal"),
          run.add("Affine", name="G", OutShape=[2]))
    project.networks += [gen, run]
    project.datasets["training"] = Dataset("embedded:xor")
    adam = {"type": "Adam", "lr": 0.01}
    project.training = TrainingConfig(
        epochs=epochs, batch_size=32,
        optimizers=[OptimizerConfig("D", "TrainD", "training", adam),
                    OptimizerConfig("G", "TrainG", "training", adam)],
        monitors=[MonitorConfig("d_valid", "TrainD", "validation")],
        executors=[ExecutorConfig("Executor", "Generate", "validation")])
    return project


def chain(net: Network, *nodes) -> None:
    for a, b in zip(nodes, nodes[1:]):
        net.connect(a, b)


def test_a_layer_in_two_networks_is_one_tensor_and_an_update_through_one_moves_the_other():
    project = gan()
    networks = compile_networks(project, {"TrainD", "TrainG", "Generate"})
    shared = networks["TrainG"].layers.G.linear.weight
    assert shared is networks["Generate"].layers.G.linear.weight
    assert shared is networks["TrainD"].layers.G.linear.weight
    assert networks["TrainD"].layers.D.linear.weight is networks["TrainG"].layers.D.linear.weight
    # D_fake shares D's scope inside TrainD: one module called twice
    assert networks["TrainD"].attr_of["n2"] == networks["TrainD"].attr_of["n5"]
    noise = torch.randn(8, 4)
    before = networks["Generate"].infer(noise).detach().clone()
    trained = networks["TrainG"]
    optimizer = torch.optim.SGD([p for _, group in trained.param_groups for p in group], lr=0.5)
    trained.train(noise).backward()
    optimizer.step()
    assert not torch.allclose(networks["Generate"].infer(noise), before)
    # TrainG freezes D: its optimizer holds G's tensors only
    assert {id(p) for _, group in trained.param_groups for p in group} == {
        id(trained.layers.G.linear.weight), id(trained.layers.G.linear.bias)}


def test_two_optimizers_take_turns_and_report_each_loss(tmp_path):
    events = []
    result = train(gan(), tmp_path / "run", on_event=events.append)
    assert result.status == "done", result.message
    started = next(e for e in events if e["event"] == "started")
    assert (started["optimizers"], started["monitors"]) == (["D", "G"], ["d_valid"])
    iterations = [e for e in events if e["event"] == "iteration"]
    assert all(set(e["losses"]) == {"D", "G"} and e["loss"] == e["losses"]["D"]
               for e in iterations)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [set(e["train_losses"]) for e in epochs] == [{"D", "G"}] * 2
    assert all(e["val_loss"] == e["monitors"]["d_valid"]["loss"] for e in epochs)
    header = next(csv.reader(open(tmp_path / "run" / "metrics.csv")))
    assert header[-4:] == ["loss:D", "loss:G", "monitor_loss:d_valid", "monitor_error:d_valid"]
    # one file holds every network's weights, each shared tensor once
    assert sorted(load_file(tmp_path / "run" / "last.safetensors")) == [
        "D.linear.bias", "D.linear.weight", "G.linear.bias", "G.linear.weight"]


def test_a_frozen_layer_does_not_move(tmp_path):
    project = gan()
    gen = project.network("TrainG")
    gen.find("G").props.update(FROZEN)  # G frozen everywhere: nothing may train it
    extra = gen.add("Affine", name="Tweak", OutShape=[2])  # so optimizer G trains something
    gen.links = [k for k in gen.links if not (k.src == gen.find("G").id)]
    gen.connect(gen.find("G"), extra), gen.connect(extra, gen.find("D"))
    networks = compile_networks(project, {"TrainD", "TrainG", "Generate"})
    initial = {k: v.clone() for net in networks.values() for k, v in net.tensors().items()}
    assert train(project, tmp_path / "run").status == "done"
    after = load_file(tmp_path / "run" / "last.safetensors")
    assert torch.equal(after["G.linear.weight"], initial["G.linear.weight"])
    assert torch.equal(after["G.linear.bias"], initial["G.linear.bias"])
    assert not torch.equal(after["D.linear.weight"], initial["D.linear.weight"])
    assert not torch.equal(after["Tweak.linear.weight"], initial["Tweak.linear.weight"])


def test_update_interval_sums_the_gradients_of_its_mini_batches(tmp_path):
    """NNC's UpdateInterval: one update every k mini-batches with their gradients summed."""
    project = load(PROJECTS / "xor_mlp.nnd")
    project.datasets["training"].shuffle = False
    optimizer = project.training.optimizers[0]
    optimizer.solver, optimizer.update_interval = {"type": "SGD", "lr": 0.1}, 2
    project.training.epochs, project.training.batch_size = 1, 160
    prepared = prepare(project)  # the weights and data training starts from
    compiled, data = prepared.compiled, prepared.train_data
    params = [p for _, group in compiled.param_groups for p in group]
    x, y = (torch.from_numpy(data.values(v)) for v in compiled.data_vars)
    assert len(x) == 320  # two mini-batches of 160
    total = [torch.zeros_like(p) for p in params]
    for part in (slice(0, 160), slice(160, 320)):
        grads = torch.autograd.grad(compiled.train(x[part], y[part]), params)
        total = [t + g for t, g in zip(total, grads)]
    expected = {k: v.detach() - 0.1 * g for (k, v), g in zip(
        ((k, v) for k, v in compiled.tensors().items() if v.requires_grad), total)}
    assert train(project, tmp_path / "run").status == "done"
    after = load_file(tmp_path / "run" / "last.safetensors")
    for name, value in expected.items():
        assert torch.allclose(after[name], value, atol=1e-6), name


def test_a_version_3_project_trains_to_the_same_numbers_as_before(tmp_path):
    """xor_mlp written as a version 3 file (one training block) trains, through the loop of
    several optimizers, to the very metrics the one-optimizer engine gives (measured with it,
    its shuffling for several processes included)."""
    doc = json.loads((PROJECTS / "xor_mlp.nnd").read_text())
    first = doc["training"].pop("optimizers")[0]
    for key in ("monitors", "executors", "monitor_interval"):
        doc["training"].pop(key)
    doc["training"].update(network="Main", optimizer=first["solver"],
                           schedule=first["schedule"], epochs=2)
    doc["version"] = 3
    project = from_dict(doc)
    events = []
    result = train(project, tmp_path / "run", on_event=events.append)
    assert result.status == "done", result.message
    epochs = [(e["train_loss"], e["val_loss"], e["val_error"]) for e in events
              if e["event"] == "epoch"]
    assert epochs == [(0.6602293014526367, 0.6090593338012695, 0.25),
                      (0.5436588287353515, 0.4615225315093994, 0.012499999999999956)]


@pytest.mark.parametrize("change, kind, message", [
    (lambda p: setattr(p.training.optimizers[1], "network", "TrainGen"), "error",
     "training.optimizers[1]: optimizer G names network 'TrainGen', which does not exist (the "
     "project has 'TrainD', 'TrainG', 'Generate')"),
    (lambda p: setattr(p.training.executors[0], "network", "Gen"), "error",
     "training.executors[0]: executor Executor names network 'Gen', which does not exist"),
    (lambda p: setattr(p.training.monitors[0], "dataset", "test"), "data",
     "training.monitors[0].dataset: 'test' is not a dataset of the project (it has training, "
     "validation)"),
    (lambda p: p.network("TrainG").find("G").props.update(FROZEN), "error",
     "optimizer G trains nothing: every layer with parameters in network TrainG is frozen "
     "(LRateMultiplier 0) or there is none"),
    (lambda p: p.network("TrainG").find("D").props.update(OutShape=[2]), "error",
     "shares weights D.linear.weight with a layer of another network (same name or "
     "ParameterScope) but needs them 2×2 where they are 1×2"),
    (lambda p: p.network("TrainD").find("D_fake").props.update({"W.LRateMultiplier": 0.0}),
     "error", "D_fake and D share W in network TrainD but learn at different rates there "
              "(W.LRateMultiplier 1 vs 0)"),
])
def test_a_configuration_that_cannot_train_is_named(tmp_path, change, kind, message):
    project = gan()
    change(project)
    result = train(project, tmp_path / "run")
    assert (result.status, result.kind, result.bad_input) == ("failed", kind, True)
    assert message in result.message, result.message


def test_generated_inputs_are_arguments_the_runner_fills():
    networks = compile_networks(gan(), {"TrainD", "Generate"})
    disc = networks["TrainD"]
    assert disc.train_vars == ["x", "Noise"] and disc.data_vars == ["x"]
    assert disc.generated["Noise"].kind == "Normal" and disc.generated["Noise"].shape == (4,)
    assert networks["Generate"].input_vars == ["Noise"]
    assert networks["Generate"].infer(torch.zeros(3, 4)).shape == (3, 2)
    assert disc.terminals == ["RealIsReal", "FakeIsFake"]
    with pytest.raises(TrainingError, match="no training dataset"):
        project = gan()
        project.datasets.clear()
        prepare(project)


def test_a_run_of_several_optimizers_stops_with_its_weights_and_says_it_cannot_resume(tmp_path):
    stop = threading.Event()
    result = train(gan(), tmp_path / "run", stop=stop,
                   on_event=lambda e: stop.set() if e["event"] == "iteration" else None)
    assert result.status == "stopped", result.message
    assert (tmp_path / "run" / "last.safetensors").is_file()
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()
    again = train(gan(), tmp_path / "run", resume=True)
    assert (again.status, again.bad_input) == ("failed", True)
    assert again.message == ("a run of several optimizers keeps no checkpoint and cannot be "
                             "resumed; train it again")
