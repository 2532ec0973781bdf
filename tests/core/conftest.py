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
