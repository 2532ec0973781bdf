import os
import sys
from pathlib import Path

# GUI tests drive the real window on Qt's offscreen platform: no display needed.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_PREFERRED_BINDING", "PySide6")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PROJECTS = ROOT / "projects"


def train_iris_copy(folder: Path, epochs: int) -> tuple[Path, Path]:
    """Copy iris_mlp into ``folder`` and train one real run of ``epochs`` epochs beside it (on
    one thread: tiny networks train fastest so). Returns the project file and the run folder."""
    import shutil

    import torch

    from designer.core import runs
    from designer.core.project import load
    from designer.core.trainer import train

    path = Path(shutil.copy(PROJECTS / "iris_mlp.nnd", folder / "iris_mlp.nnd"))
    project = load(path)
    project.training.epochs = epochs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(project, runs.new_run_dir(path))
    finally:
        torch.set_num_threads(threads)
    assert result.status == "done", result.message
    return path, result.run_dir
