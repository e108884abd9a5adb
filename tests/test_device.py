"""Device selection: the CPU flushes denormal floats (as CUDA does); CUDA asked for without one is an error."""

from __future__ import annotations

import pytest
import torch

from repro.device import resolve_device
from repro.errors import ReproError


def test_cpu_flushes_denormals_to_zero():
    torch.set_flush_denormal(False)
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # below float32's smallest normal (1.18e-38)
    assert float(tiny * 1.0) != 0.0
    assert resolve_device("cpu") == torch.device("cpu")
    try:
        assert float(tiny * 1.0) == 0.0
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is absent")
def test_cuda_without_a_gpu_names_the_setting():
    with pytest.raises(ReproError, match="--device is 'cuda'"):
        resolve_device("cuda", setting="--device")
