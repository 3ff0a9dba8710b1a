import pytest
import torch

from neuron.paths import shared_data_dir


@pytest.fixture(scope="session")
def shared_data():
    """The real sample data beside the checkout (../shared/data); tests skip where it is absent."""
    root = shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"real sample data not found at {root} (set NEURON_SHARED_DATA to its location)")
    return root


@pytest.fixture(scope="session")
def ntu_samples_dir(shared_data):
    path = shared_data / "ntu_samples"
    if not any(path.glob("*.skeleton")):
        pytest.skip(f"no NTU .skeleton samples in {path}")
    return path


@pytest.fixture(scope="session")
def utd_dir(shared_data):
    path = shared_data / "utd_mhad"
    if not any(path.glob("*_skeleton.mat")):
        pytest.skip(f"no UTD-MHAD skeleton files in {path}")
    return path


@pytest.fixture(scope="session")
def semantics_dir(shared_data):
    path = shared_data / "neuron_semantics"
    if not path.is_dir():
        pytest.skip(f"the paper's released side information is not at {path}")
    return path


@pytest.fixture
def single_thread():
    """Tiny tensors: on a shared 2-core machine extra intra-op threads only add contention."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
