"""Guard for `accelerate launch` / torchrun: at most one training process per visible device.

More processes than GPUs would put several ranks on one GPU (out of memory, or NCCL refusing a
duplicate GPU) long after start-up; this check fails first and names the setting to change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class ProcessCountError(RuntimeError):
    """More launched processes than devices to put them on."""


def launched_processes(env: Mapping[str, str] | None = None) -> int:
    """Processes on this machine: LOCAL_WORLD_SIZE (torchrun, accelerate), else WORLD_SIZE, else 1."""
    env = os.environ if env is None else env
    for key in ("LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        if env.get(key):
            return int(env[key])
    return 1


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def check_process_count(processes: int | None = None, devices: int | None = None,
                        allow_cpu_processes: bool | None = None) -> int:
    """Raise ProcessCountError when `processes` (default: launched_processes()) exceeds the
    visible CUDA devices (default: torch.cuda.device_count()). Without a GPU one process is
    allowed, several only when asked for (`allow_cpu_processes`, default: ACCELERATE_USE_CPU, set
    by `accelerate launch --cpu` or `use_cpu: true`). Returns `processes`."""
    processes = launched_processes() if processes is None else processes
    if devices is None:
        import torch

        devices = torch.cuda.device_count()
    if allow_cpu_processes is None:
        allow_cpu_processes = _truthy(os.environ.get("ACCELERATE_USE_CPU"))
    if devices == 0:
        if processes > 1 and not allow_cpu_processes:
            raise ProcessCountError(
                f"{processes} processes launched but no CUDA device is visible: use "
                f"`--num_processes 1` (accelerate config key `num_processes`), or `--cpu` / "
                f"`use_cpu: true` to run several CPU processes on purpose")
        return processes
    if processes > devices:
        raise ProcessCountError(
            f"{processes} processes launched but only {devices} CUDA device(s) visible: set "
            f"`--num_processes {devices}` (accelerate config key `num_processes`) or make more "
            f"GPUs visible (CUDA_VISIBLE_DEVICES, accelerate `gpu_ids`)")
    return processes
