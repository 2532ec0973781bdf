"""Neural Network Console projects (``.sdcproj``): opened as ours, and written back.

``import_project`` reads a ``.sdcproj`` file into an ordinary project and lists, by name and
with the layer or section it belongs to, everything it could not carry over. A file that uses a
layer type the app does not have is refused with the list of those layers (a network with holes
could not train); a broken file is refused with its line. ``write_project`` writes a project in
NNC's format for the layers both sides have (``designer.core.nnc.writer``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from designer.core.nnc import config
from designer.core.nnc.ini import NncError, read
from designer.core.nnc.layers import network_names, read_network
from designer.core.nnc.writer import write_project, write_text
from designer.core.project import Network, Project

SUFFIX = ".sdcproj"


@dataclass
class Imported:
    project: Project
    notes: list[str]  # what was not carried over (or was renamed), each naming where
    missing_datasets: dict[str, str]  # NNC dataset name -> its URI, for those not found here
    encoding: str  # of the file: utf-8, or cp932 for an old Windows file

    def message(self) -> str:
        """All of it in one message, for the window and the command line."""
        lines = [f"- {note}" for note in self.notes]
        for name, uri in self.missing_datasets.items():
            lines.append(f"- Dataset not found: {name} ({uri or 'no file named'}); point it at "
                         f"a local NNC-format CSV file (--dataset {name}=PATH)")
        if self.encoding != "utf-8":
            lines.append(f"- The file was read as {self.encoding} (Shift-JIS).")
        return "\n".join(lines)


def import_project(path: str | Path, datasets: dict[str, str] | None = None,
                   sdcpath: str | Path | None = None) -> Imported:
    """Read ``path``. ``datasets`` maps NNC dataset names (or roles) to local files or
    ``embedded:`` datasets; ``sdcpath`` is a folder standing for NNC's ``{SDCPATH}``.
    Raises NncError naming the file and line, or listing the layers the app lacks."""
    path = Path(path)
    ini = read(path)
    engine = ini.text("Engine", "SDeepEngineType") if ini.has("Engine") else ""
    if engine.strip() != "NNabla":
        raise NncError(f"{path}: not a Neural Network Console project for NNabla "
                       f"([Engine] SDeepEngineType is {engine.strip() or 'missing'})")
    notes: list[str] = []
    networks: list[Network] = []
    missing: list[str] = []
    named = network_names(ini)
    for name, prefix in named:
        reading = read_network(ini, name, prefix, notes)
        where = f" in network {name}" if len(named) > 1 else ""
        missing += [f"{item}{where}" for item in reading.missing]
        networks.append(reading.network)
    if missing:
        raise NncError(f"{path}: cannot be opened: it uses layers this app does not have yet: "
                       f"{'; '.join(missing)}", missing)
    ini.section("Config")
    optimizers = config.read_optimizers(ini, notes)
    trained = optimizers[0].network if optimizers else networks[0].name
    if trained not in {n.name for n in networks}:
        raise ini.fail(ini.line(optimizers[0].section, "Optimizer_NetworkName"),
                       f"[{optimizers[0].section}] trains network {trained!r}, which the file "
                       f"does not hold (it holds {', '.join(n.name for n in networks)})")
    roles = config.dataset_roles(ini, optimizers[0].dataset if optimizers else "Training",
                                 notes)
    found = config.read_datasets(ini, path.parent, dict(datasets or {}),
                                 Path(sdcpath) if sdcpath else None, roles, notes)
    batch = ini.integer("Config", "BatchSize", 64, low=1)
    samples = found.sizes.get("training") or _rows(found, "training")
    training = config.read_training(ini, optimizers[0] if optimizers else None, trained,
                                    samples // batch if samples else None, notes)
    config.check_monitors_and_executors(ini, trained, notes)
    project = Project(name=path.stem, description=config.description(ini), networks=networks,
                      datasets=found.by_role, training=training)
    return Imported(project, notes, {found.names[r]: uri for r, uri in found.missing.items()},
                    ini.encoding)


def _rows(found: config.Datasets, role: str) -> int:
    """Samples in a dataset file that was found (its lines after the header)."""
    dataset = found.by_role.get(role)
    if dataset is None or role in found.missing or dataset.source.startswith("embedded:"):
        return 0
    try:
        with open(dataset.source, "rb") as f:
            return max(sum(1 for line in f if line.strip()) - 1, 0)
    except OSError:
        return 0


__all__ = ["SUFFIX", "Imported", "NncError", "import_project", "write_project", "write_text"]
