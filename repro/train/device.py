"""Pick the device and the autocast context: CUDA when present, CPU otherwise, no code changes."""

from __future__ import annotations

import contextlib

import torch

from repro.errors import ReproError


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """``auto``: CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ReproError("train.device is 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
        index = local_rank if local_rank is not None else torch.cuda.current_device()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if name == "cpu":
        return torch.device("cpu")
    raise ReproError(f"unknown device {name!r}; choose auto, cpu or cuda")


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on CUDA or CPU when asked; a no-op context otherwise."""
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def check_bf16(device: torch.device) -> None:
    """Fail early, with a clear message, where bf16 autocast cannot run."""
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ReproError(f"train.bf16 is set but {torch.cuda.get_device_name(device)} does not support bfloat16")
    try:
        with autocast(device, True):
            lstm = torch.nn.LSTM(4, 4, batch_first=True).to(device)
            lstm(torch.zeros(1, 2, 4, device=device))
    except Exception as exc:  # pragma: no cover - depends on the torch build
        raise ReproError(f"train.bf16 is set but bf16 autocast does not work on {device.type} here: {exc}") from exc
