"""Benchmark: solver samples/s through the `hf` backend (in process) vs an `openai` server.

    .venv/bin/python bench/backend_throughput.py prepare OUT_DIR
    .venv/bin/python bench/backend_throughput.py compare --model-dir DIR [--base-url URL --model NAME]
    .venv/bin/python bench/backend_throughput.py measure --backend hf --model-dir DIR
    .venv/bin/python bench/backend_throughput.py measure --backend openai --base-url URL --model NAME
    .venv/bin/python bench/backend_throughput.py export-for-vllm DIR OUT_DIR

prepare: trains the project's tiny solver (conf/model/tiny.yaml) briefly on the synthetic train
split and saves it. compare: both backends on the same prompts in one run, then the ratio; with no
--base-url it serves the model with tests/servers/completions_server.py (one request at a time:
a correctness server, so its ratio is the HTTP + serial-request cost, not a serving engine's).
export-for-vllm: copies a saved solver for an older transformers inside vLLM's venv and checks
the head size is one vLLM's CPU attention supports.

Prompts are `--problems` synthetic test-id problems, `--n` samples each. Printed per backend:
samples/s (wall), CPU seconds of the process that ran the model where it can be read (the
machine is shared, so CPU time is the steadier number), and the share of samples that hit
max_new_tokens (equal work needs equal shares).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import yaml  # noqa: E402

from aprm.backends import make_backend  # noqa: E402
from aprm.backends.solutions import sample_solutions_with  # noqa: E402
from aprm.data.synthetic import generate_split  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_SERVER = ROOT / "tests" / "servers" / "completions_server.py"
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)  # CPUAttentionBackend


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process and its live descendants, from /proc (None off Linux)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        total = (int(fields[11]) + int(fields[12])) / ticks
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child)) or 0.0
        return total
    except (OSError, ValueError):
        return None


def prepare(out_dir: Path, train_problems: int, epochs: int) -> None:
    from aprm.models.factory import build_model
    from aprm.models.solver import format_solution, train_solver
    from aprm.models.tokenizer import train_tokenizer

    model_cfg = yaml.safe_load((ROOT / "conf" / "model" / "tiny.yaml").read_text())
    vocab_size = model_cfg.pop("vocab_size", 384)  # a tokenizer setting, not a model key
    problems = generate_split("train", train_problems, 0)
    tokenizer = train_tokenizer([p.question for p in problems]
                                + [format_solution(p.reference_steps) for p in problems], vocab_size)
    model = build_model("solver", model_cfg, tokenizer, seed=0)
    metrics = train_solver(problems, tokenizer, model, {"epochs": epochs}, out_dir)
    print(json.dumps({"saved": str(out_dir), "loss_last": round(metrics["loss_last"], 3),
                      "train_wall_s": round(metrics["wall_s"], 1)}))


def export_for_vllm(src: Path, dst: Path) -> None:
    config = json.loads((src / "config.json").read_text())
    head = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    if head not in VLLM_CPU_HEAD_SIZES:
        sys.exit(f"{src}: head size {head} (hidden_size / num_heads) is not one vLLM's CPU "
                 f"attention supports {VLLM_CPU_HEAD_SIZES}; pick model.num_heads to match")
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    # transformers 5 writes names an older transformers (in vLLM's venv) does not know
    config.setdefault("torch_dtype", config.get("dtype", "float32"))
    config.setdefault("rope_theta", (config.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    tok_path = dst / "tokenizer_config.json"
    tok = json.loads(tok_path.read_text())
    tok["tokenizer_class"] = "PreTrainedTokenizerFast"
    extra = tok.pop("extra_special_tokens", None)
    if isinstance(extra, list):
        tok["additional_special_tokens"] = extra
    tok_path.write_text(json.dumps(tok, indent=2))
    print(json.dumps({"exported": str(dst), "head_size": head}))


def measure(label: str, backend_cfg: dict, model_dir: str | None, args, pid: int | None) -> dict:
    """Time one sampling call; CPU seconds are those of `pid` (default: this process)."""
    problems = generate_split("test-id", args.problems, 0)
    sampling = dict(temperature=args.temperature, top_p=args.top_p,
                    max_new_tokens=args.max_new_tokens)
    backend = make_backend(backend_cfg, model_dir)
    sample_solutions_with(backend, problems[:2], n=1, seed=999, **sampling)  # warm-up
    cpu_before = cpu_seconds(pid or os.getpid())
    started = time.perf_counter()
    samples = sample_solutions_with(backend, problems, n=args.n, seed=args.seed, **sampling)
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds(pid or os.getpid())
    flat = [s for row in samples for s in row]
    return {
        "backend": label,
        "samples": len(flat),
        "wall_s": round(wall, 2),
        "samples_per_s": round(len(flat) / wall, 2),
        "model_cpu_s": None if cpu_before is None or cpu_after is None
        else round(cpu_after - cpu_before, 2),
        "truncated_share": round(sum(s.truncated for s in flat) / len(flat), 3),
        "with_answer_share": round(sum(s.final_answer is not None for s in flat) / len(flat), 3),
        "distinct_per_problem": round(sum(len({s.text for s in row}) for row in samples)
                                      / len(samples), 2),
    }


def start_test_server(model_dir: str, threads: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen([sys.executable, str(TEST_SERVER), "--model-dir", model_dir,
                             "--served-model-name", "tiny-solver", "--port", "0",
                             "--threads", str(threads)],
                            stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        sys.exit(f"test server did not start (exit {proc.poll()})")
    return proc, line.split()[-1]


def openai_cfg(args, base_url: str, model: str) -> dict:
    return {"name": "openai", "base_url": base_url, "model": model,
            "concurrency": args.concurrency, "timeout_s": 600.0, "max_retries": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare")
    prep.add_argument("out_dir", type=Path)
    prep.add_argument("--train-problems", type=int, default=256)
    prep.add_argument("--epochs", type=int, default=2)
    export = sub.add_parser("export-for-vllm")
    export.add_argument("src", type=Path)
    export.add_argument("dst", type=Path)
    for name in ("measure", "compare"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--model-dir")
        cmd.add_argument("--base-url")
        cmd.add_argument("--model", default="tiny-solver")
        cmd.add_argument("--server-pid", type=int, help="read this server's CPU time")
        cmd.add_argument("--server-label", default="server")
        cmd.add_argument("--problems", type=int, default=32)
        cmd.add_argument("--n", type=int, default=4)
        cmd.add_argument("--max-new-tokens", type=int, default=96)
        cmd.add_argument("--temperature", type=float, default=1.0)
        cmd.add_argument("--top-p", type=float, default=1.0)
        cmd.add_argument("--seed", type=int, default=0)
        cmd.add_argument("--concurrency", type=int, default=8)
        cmd.add_argument("--batch-size", type=int, default=64)
        cmd.add_argument("--threads", type=int, default=1, help="torch threads of the model")
        if name == "measure":
            cmd.add_argument("--backend", choices=("hf", "openai"), required=True)
    args = parser.parse_args()
    if args.command == "prepare":
        torch.set_num_threads(1)
        return prepare(args.out_dir, args.train_problems, args.epochs)
    if args.command == "export-for-vllm":
        return export_for_vllm(args.src, args.dst)
    torch.set_num_threads(args.threads)
    hf_cfg = {"name": "hf", "batch_size": args.batch_size, "device": "cpu"}
    if args.command == "measure":
        if args.backend == "hf":
            print(json.dumps(measure("hf", hf_cfg, args.model_dir, args, None)))
        else:
            print(json.dumps(measure(f"openai ({args.server_label})",
                                     openai_cfg(args, args.base_url, args.model), None, args,
                                     args.server_pid)))
        return None
    if not args.model_dir:
        parser.error("compare needs --model-dir (the hf side loads it)")
    proc = None
    try:
        if args.base_url is None:
            proc, base_url = start_test_server(args.model_dir, args.threads)
            args.server_label, args.server_pid, model = "tests/servers", proc.pid, "tiny-solver"
        else:
            base_url, model = args.base_url, args.model
        local = measure("hf", hf_cfg, args.model_dir, args, None)
        served = measure(f"openai ({args.server_label})", openai_cfg(args, base_url, model),
                         None, args, args.server_pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(local))
    print(json.dumps(served))
    print(json.dumps({"ratio_samples_per_s_served_over_hf":
                      round(served["samples_per_s"] / local["samples_per_s"], 3)}))


if __name__ == "__main__":
    main()
