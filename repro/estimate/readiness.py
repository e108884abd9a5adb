"""Can this device run this config? CUDA, bf16, NCCL for multi-GPU training, and memory, checked at once."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from repro.device import bf16_unsupported_reason
from repro.train.checkpoint import environment_info


@dataclass
class Readiness:
    device: str
    device_name: str
    cuda_available: bool
    cuda_devices: int
    bf16_requested: dict[str, bool]  # {"train": train.bf16, "decode": decode.bf16}
    bf16_supported: bool
    bf16_note: str | None  # why bf16 is not used, when it is asked for and unsupported
    nccl_required: bool
    nccl_available: bool | None
    memory_budget_bytes: int | None
    memory_source: str
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ready": self.ready}

    def dtype(self, step: str) -> str:
        """``bf16`` or ``fp32``: what ``step`` ("train", "decode") runs in on this device."""
        return "bf16" if self.bf16_requested[step] and self.bf16_supported else "fp32"


def check_device(device: torch.device, *, train_bf16: bool, decode_bf16: bool, train_gpus: int,
                 memory_budget_bytes: int | None, memory_source: str) -> Readiness:
    """Everything about ``device`` that does not need a model (memory is checked per model afterwards)."""
    cuda = torch.cuda.is_available()
    count = torch.cuda.device_count() if cuda else 0
    name = environment_info(device)["device_name"]  # as run.json records it
    reason = bf16_unsupported_reason(device)
    note = None
    if reason is not None and (train_bf16 or decode_bf16):
        note = f"bf16 is asked for but {reason}: the projection is for fp32, as the run would fall back to"
    nccl_required = device.type == "cuda" and train_gpus > 1
    readiness = Readiness(str(device), name, cuda, count, {"train": train_bf16, "decode": decode_bf16},
                          reason is None, note, nccl_required, None, memory_budget_bytes, memory_source)
    if nccl_required:
        readiness.nccl_available = bool(torch.distributed.is_available() and torch.distributed.is_nccl_available())
        if not readiness.nccl_available:
            readiness.problems.append("resources.train_gpus > 1 trains under torchrun with NCCL, which this "
                                      "PyTorch build does not provide")
        if count < train_gpus:
            readiness.problems.append(f"resources.train_gpus = {train_gpus} but this machine has {count} GPU(s)")
    return readiness

