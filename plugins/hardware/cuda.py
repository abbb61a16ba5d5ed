"""``cuda``: run on one NVIDIA GPU; peak memory from the CUDA caching allocator.

Memory capacity is the device's free memory (``torch.cuda.mem_get_info``) plus what this
process's caching allocator holds reserved but unused, which a new allocation can reuse.
"""

from __future__ import annotations

from typing import Any

import torch

from benchsuite.api import HardwareProfile, ParamError
from benchsuite.hookspecs import hookimpl


class Cuda(HardwareProfile):
    name = "cuda"
    summary = "One CUDA GPU: synchronised timing, peak device memory from the allocator"
    defaults = {"device": 0}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if not torch.cuda.is_available():
            return False, f"torch {torch.__version__} sees no CUDA device"
        return True, ""

    def validate(self) -> None:
        if self.params["device"] < 0:
            raise ParamError("cuda: 'device' must be a non-negative GPU index")

    @property
    def device(self) -> torch.device:
        return torch.device("cuda", self.params["device"])

    def setup(self) -> None:
        torch.cuda.set_device(self.device)

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def fingerprint(self) -> dict[str, Any]:
        props = torch.cuda.get_device_properties(self.device)
        return {
            "profile": self.name,
            "gpu": props.name,
            "gpu_memory_bytes": props.total_memory,
            "gpu_count": torch.cuda.device_count(),
            "cuda": torch.version.cuda,
            "capability": f"{props.major}.{props.minor}",
        }

    def reset_peak_memory(self) -> None:
        torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory(self) -> dict[str, Any]:
        return {
            "bytes": torch.cuda.max_memory_allocated(self.device),
            "reserved_bytes": torch.cuda.max_memory_reserved(self.device),
            "method": "torch.cuda.max_memory_allocated since cell start",
        }

    def memory_capacity(self) -> int | None:
        free, _total = torch.cuda.mem_get_info(self.device)
        cached = torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return int(free + max(0, cached))


@hookimpl
def benchsuite_register_hardware() -> list[type[HardwareProfile]]:
    return [Cuda]
