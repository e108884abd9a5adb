"""Pick the device and the autocast context: CUDA when present, CPU otherwise, no code changes."""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, field

import torch

from repro.config import DEVICES
from repro.cpu_isa import ONEDNN_ISA_VARIABLES, describe_isa_limits, isa_limits
from repro.errors import ReproError

logger = logging.getLogger(__name__)


def resolve_device(name: str = "auto", local_rank: int | None = None, setting: str = "train.device") -> torch.device:
    """``auto``: CUDA when available (``cuda:LOCAL_RANK`` under torchrun), else CPU. ``setting`` is how the
    calling command's user chose the device (``train.device``, ``--device``), for the error message.
    On the CPU, denormal floats are flushed to zero from here on (as CUDA does)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ReproError(f"{setting} is 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
        index = local_rank if local_rank is not None else torch.cuda.current_device()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    if name == "cpu":
        # Denormal floats (|x| < 1.2e-38) take a slow path on x86: a vanilla RNN's small recurrent
        # gradients trained 1.6x slower with them (9.6k vs 15.8k tokens/s here) to the same validation
        # perplexity. CUDA flushes them already; this makes the CPU do the same.
        torch.set_flush_denormal(True)
        return torch.device("cpu")
    raise ReproError(f"{setting}: unknown device {name!r}; choose {', '.join(DEVICES)}")


@dataclass(frozen=True)
class Precision:
    """How a process runs its models, chosen once and passed to where they run (as nanoGPT builds its
    autocast context once): the device, and whether bf16 autocast is on there. ``bf16`` is what takes
    effect: asked for where it is not supported natively, it is false (fp32, with :func:`runs_in_bf16`'s
    notice), so no caller reaches a missing kernel."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bf16: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "device", torch.device(self.device))
        object.__setattr__(self, "bf16", runs_in_bf16(self.device, self.bf16))

    @classmethod
    def chosen(cls, device: torch.device, bf16: bool, setting: str) -> Precision:
        """The precision a command runs in when ``setting`` (``train.bf16``, ``decode.bf16``) says ``bf16``;
        where bf16 is not supported, fp32 with a notice naming the setting (:func:`check_bf16`)."""
        return cls(device, bf16 and check_bf16(device, setting))

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype of the matmuls under this precision's autocast."""
        return torch.bfloat16 if self.bf16 else torch.float32

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on this device, or a no-op context in fp32."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)


def runs_in_bf16(device: torch.device, bf16: bool) -> bool:
    """Whether bf16 asked for (``bf16``) takes effect on ``device``: where it is not supported natively (a
    CPU without AVX512-BF16 or AMX, where oneDNN has no bf16 LSTM kernel) the code runs in fp32, with a
    notice logged once, so that no caller reaches a kernel that is missing. The commands decide with
    :func:`check_bf16` first, which names their setting, and record what took effect."""
    if not bf16:
        return False
    reason = bf16_unsupported_reason(device)
    if reason is not None:
        _notice_once(f"notice: bf16 is asked for but {reason}; running in fp32")
    return reason is None


@functools.cache
def _notice_once(message: str) -> None:
    logger.warning(message)


def bf16_unsupported_reason(device: torch.device) -> str | None:
    """Why bf16 would not pay here, or None where it runs natively: on CUDA the GPU must support bfloat16;
    on a CPU, the matrix units must (AVX512-BF16 or AMX; elsewhere PyTorch emulates bf16, slower than
    fp32), and bf16 autocast of an LSTM must work in this build on this CPU (oneDNN, which runs it, may be
    limited to an older instruction set by ``ONEDNN_MAX_CPU_ISA``). Probed once per device."""
    return _bf16_unsupported_reason(device.type, device.index)


@functools.cache
def _bf16_unsupported_reason(device_type: str, index: int | None) -> str | None:
    device = torch.device(device_type, index)
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            return f"{torch.cuda.get_device_name(device)} does not support bfloat16"
    elif device.type == "cpu":
        if not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
            return "this CPU has no native bfloat16 arithmetic (AVX512-BF16 or AMX)"
    try:
        # the LSTM's initialisation draws from the CPU generator: the probe leaves a seeded run's numbers alone
        with torch.random.fork_rng(devices=[]), torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            lstm = torch.nn.LSTM(4, 4, batch_first=True).to(device)
            lstm(torch.zeros(1, 2, 4, device=device))
    except Exception as exc:  # oneDNN's missing kernel is a RuntimeError; other builds may fail otherwise
        first_line = str(exc).split(". ")[0].strip()
        limits = isa_limits(ONEDNN_ISA_VARIABLES)
        where = f" with oneDNN limited by {describe_isa_limits(limits)}" if limits else " in this PyTorch build"
        return f"bf16 autocast of an LSTM does not run on {device.type}{where} ({first_line})"
    return None


def check_bf16(device: torch.device, setting: str = "bf16") -> bool:
    """Whether to run in bf16 when ``setting`` asks for it: yes where it is supported; otherwise fp32,
    with a one-line notice (logged as a warning) (never an error: the numbers are the same, only slower)."""
    reason = bf16_unsupported_reason(device)
    if reason is not None:
        logger.warning(f"notice: {setting} is set but {reason}; running in fp32")
    return reason is None
