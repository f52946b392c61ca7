"""Device choice: auto prefers CUDA, then MPS, then CPU; an asked-for device must exist.

The GPUs are faked by patching torch's availability checks: CI machines have none.
"""

from __future__ import annotations

import pytest
import torch

from bridge.engine.base import EngineError
from bridge.engine.device import check_device_name, pick_device, pick_dtype


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """``machine(cuda=0, mps=False)`` fakes what this computer has."""

    def fake(cuda: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return fake


@pytest.mark.parametrize(("cuda", "mps", "expected"), [
    (1, True, "cuda"),
    (0, True, "mps"),
    (0, False, "cpu"),
])
def test_auto_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, expected):
    machine(cuda=cuda, mps=mps)
    assert pick_device("auto").type == expected


def test_explicit_cpu_wins_over_a_gpu(machine):
    machine(cuda=1, mps=True)
    assert pick_device("cpu") == torch.device("cpu")


def test_missing_cuda_is_an_error_naming_the_fix_not_a_silent_cpu_run(machine):
    machine(cuda=0)
    with pytest.raises(EngineError, match=r"'cuda' is not available.*--device cpu"):
        pick_device("cuda")


def test_gpu_index_beyond_the_machine_names_the_valid_ones(machine):
    machine(cuda=2)
    assert pick_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(EngineError, match=r"has 2 CUDA device\(s\), cuda:0\.\.cuda:1"):
        pick_device("cuda:2")


def test_missing_mps_is_an_error_naming_the_fix(machine):
    machine(mps=False)
    with pytest.raises(EngineError, match=r"'mps' is not available.*Apple silicon.*--device cpu"):
        pick_device("mps")


@pytest.mark.parametrize("name", ["gpu", "cuda:", "CUDA:x", "", None, 0])
def test_misspelled_device_lists_the_choices(name):
    with pytest.raises(ValueError, match=r"device must be auto, cpu, cuda, cuda:N .* or mps"):
        check_device_name(name)


def test_device_names_are_case_and_space_tolerant():
    assert check_device_name(" CUDA:0 ") == "cuda:0"


def test_half_precision_on_cuda_only():
    assert pick_dtype(torch.device("cuda")) == torch.float16
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype(torch.device("mps")) == torch.float32
