"""The process-count guard for accelerate launch, and the accelerate config files it refers to."""

from __future__ import annotations

import pytest

from aprm.models.distributed import (
    ProcessCountError,
    check_process_count,
    launched_processes,
)
from flows.config import CONF_DIR


def test_launched_processes_prefers_the_local_count():
    assert launched_processes({}) == 1
    assert launched_processes({"WORLD_SIZE": "4"}) == 4
    assert launched_processes({"WORLD_SIZE": "16", "LOCAL_WORLD_SIZE": "8"}) == 8


def test_more_processes_than_gpus_names_num_processes():
    assert check_process_count(processes=4, devices=4) == 4
    assert check_process_count(processes=1, devices=8) == 1
    with pytest.raises(ProcessCountError) as err:
        check_process_count(processes=8, devices=2)
    message = str(err.value)
    assert "8 processes launched but only 2 CUDA device(s)" in message
    assert "`--num_processes 2`" in message and "config key `num_processes`" in message


def test_cpu_allows_one_process_unless_asked_for_more(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    assert check_process_count(processes=1, devices=0) == 1
    with pytest.raises(ProcessCountError, match=r"no CUDA device is visible: use `--num_processes 1`"):
        check_process_count(processes=2, devices=0)
    assert check_process_count(processes=2, devices=0, allow_cpu_processes=True) == 2
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")  # what `accelerate launch --cpu` sets
    assert check_process_count(processes=2, devices=0) == 2


@pytest.mark.parametrize("name, kind, processes", [("single_gpu", "NO", 1), ("ddp", "MULTI_GPU", 8),
                                                   ("fsdp", "FSDP", 8)])
def test_accelerate_configs_load_with_accelerate(name, kind, processes):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(CONF_DIR / "accelerate" / f"{name}.yaml"))
    assert config.distributed_type.value == kind
    assert config.num_processes == processes and config.mixed_precision == "bf16"
    if name == "fsdp":
        from transformers.models.qwen2 import modeling_qwen2

        layer = config.fsdp_config["fsdp_transformer_layer_cls_to_wrap"]
        assert hasattr(modeling_qwen2, layer)  # the class FSDP wraps exists for the Qwen2 family
