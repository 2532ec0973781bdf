import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks train fastest on one thread, the CI machine has two cores, and exactness
    checks need the same thread count on both sides."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def lenet_run(tmp_path_factory):
    """digits_lenet trained five epochs (about 97 % on its validation share), for the tests
    that compress a trained run or learn from it (a weaker teacher teaches a student less)."""
    from designer.core.project import load
    from designer.core.trainer import train

    from tests.conftest import PROJECTS

    folder = tmp_path_factory.mktemp("lenet")
    project = load(PROJECTS / "digits_lenet.nnd")
    project.training.epochs = 5
    project.save(folder / "digits_lenet.nnd")
    torch.set_num_threads(1)
    result = train(project, folder / "run")
    assert result.status == "done", result.message
    return project, result.run_dir
