"""The environment variables that hold a CPU's kernels to an older instruction set than it has, read
without importing torch (run.json's readers and the CLI's parser need them too)."""

from __future__ import annotations

import os

# oneDNN's CPU dispatcher control: the newest instruction set it may use (DNNL_ is the older spelling)
ONEDNN_ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
# Every variable that holds a CPU's kernels to an older instruction set than it has: oneDNN's, ATen's own
# vectorised kernels' and MKL's. A run under them computes as on that older CPU (docs/determinism.md).
ISA_LIMIT_VARIABLES = (*ONEDNN_ISA_VARIABLES, "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


def isa_limits(names: tuple[str, ...] = ISA_LIMIT_VARIABLES) -> dict[str, str]:
    """The instruction-set limits among ``names`` set in this process's environment, by name."""
    return {name: os.environ[name] for name in names if os.environ.get(name)}


def describe_isa_limits(limits: dict[str, str]) -> str:
    """``limits`` as the environment spells them: "ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2"."""
    return ", ".join(f"{name}={value}" for name, value in limits.items())
