"""Published ProcessBench F1 of public PRMs, shown beside a run's own (never computed here).

Source: Zheng et al. 2024, "ProcessBench: Identifying Process Errors in Mathematical
Reasoning", the PRM rows of its main table (F1, %, the gsm8k split).
"""

from __future__ import annotations

PROCESSBENCH_F1: dict[str, dict[str, float]] = {
    "Math-Shepherd-PRM-7B": {"gsm8k": 47.9},
    "RLHFlow-PRM-Mistral-8B": {"gsm8k": 50.4},
    "Skywork-PRM-7B": {"gsm8k": 70.8},
    "Qwen2.5-Math-7B-PRM800K": {"gsm8k": 68.2},
    "Qwen2.5-Math-PRM-7B": {"gsm8k": 82.4},
}
