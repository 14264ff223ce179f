"""Steady-state steps/s, tokens/s, MFU and peak memory of the reference and fast training loops.

Each measurement runs in its own process (clean peak memory; one torch thread per process on a
CPU, as the workflow runs them); `fast-concurrent` runs several such processes at once.
"""

import csv
import datetime
import json
import multiprocessing
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from grokstudy import config as study_config
from grokstudy import provenance
from grokstudy.data import store
from grokstudy.training.device import resolve_device

LOOPS = ("reference", "fast", "fast-concurrent")
COLUMNS = [
    "date",
    "device",
    "preset",
    "run",
    "loop",
    "processes",
    "steps",
    "steps_per_s",
    "tokens_per_s",
    "mfu",
    "peak_mem_gb",
    "peak_flops_source",
    "versions",
    "notes",
]
# Dense bf16 peak of the GPUs this project is lent (vendor figures, FLOP/s).
GPU_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        model = f"{names[0]} x{len(names)}" if names else model
    return f"CPU {model}, {torch.get_num_threads()} torch thread per process"


def peak_flops(device: torch.device, name: str | None = None) -> tuple[float | None, str]:
    """`name`: the GPU's name as a worker reported it, so that this process need not touch the GPU."""
    if device.type == "cuda":
        name = name or torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value, f"{key} dense bf16 vendor peak"
        return None, f"unknown GPU {name}"
    # Measured with the one thread each training process gets, not the parent's default count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        a @ b
        start, repeats = time.perf_counter(), 20
        for _ in range(repeats):
            a @ b
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return 2 * 1024**3 * repeats / seconds, "measured fp32 1024x1024 matmul, one thread"


def model_flops_per_step(model_params: dict, vocab_rows: int, batch: int, prompt_tokens: float) -> float:
    """Useful training FLOPs (forward + backward = 6 per parameter per token), counted the same way for both loops."""
    from grokstudy.models import trunk_parameters

    trunk = trunk_parameters(model_params)
    return 6 * trunk * batch * prompt_tokens + 6 * model_params["d_model"] * vocab_rows * batch


def _measure(
    loop: str, data_dir: str, model_params: dict, run_params: dict, device: str, steps: int, warmup: int, queue
) -> None:
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.set_num_threads(1)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(Path(data_dir) / store.TOKENIZER_DIR)
    train = store.read_train(data_dir)
    if loop == "reference":
        from grokstudy.benchmark.reference import ReferenceLoop

        ref = ReferenceLoop(train, list(tokenizer.get_vocab()), model_params, run_params, dev)
        step = ref.step
    else:
        from grokstudy.batching import encode
        from grokstudy.models import build_model
        from grokstudy.training.optim import build_optimizer
        from grokstudy.training.sampler import EpochSampler
        from grokstudy.training.step import TrainStep

        data = encode(train, tokenizer).to(dev)
        model = build_model(model_params, tokenizer, seed=0).to(dev).train()
        optimizer = build_optimizer(model, run_params, fused=dev.type == "cuda")
        train_step = TrainStep(model, optimizer, run_params["grad_clip"], dev, compile=run_params.get("compile", False))
        sampler = EpochSampler(len(data), run_params["batch_size"], 0, dev)
        counter = iter(range(10**9))
        total = torch.zeros((), device=dev)

        def step() -> None:
            nonlocal total
            loss, _ = train_step(data.select(sampler.indices(next(counter))), run_params["lr"])
            total = total + loss

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = (
        torch.cuda.max_memory_allocated()
        if dev.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    queue.put({"steps_per_s": steps / seconds, "peak_mem_gb": peak / 1e9, "device": device_name(dev)})


def _run_processes(count: int, *args) -> list[dict]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_measure, args=(*args, queue)) for _ in range(count)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise RuntimeError(f"benchmark worker failed with exit code {worker.exitcode}")
    return results


def _write_dataset(dataset: dict, directory: str, model_params: dict, batch_size: int) -> tuple[float, float]:
    """Generate the run's dataset into `directory`; returns (mean prompt tokens, FLOPs per step)."""
    from transformers import AutoTokenizer

    store.write(store.generate(dataset), dataset, directory)
    prompt_tokens = store.read_train(directory)["prompt"].str.count(" ").mean() + 1
    vocab_rows = len(AutoTokenizer.from_pretrained(Path(directory) / store.TOKENIZER_DIR))
    return prompt_tokens, model_flops_per_step(model_params, vocab_rows, batch_size, prompt_tokens)


def benchmark(
    configfile: Path,
    run: str,
    loops=LOOPS,
    steps: int = 30,
    warmup: int = 5,
    processes: int = 2,
    device: str = "auto",
    compile: bool = False,
    log=print,
    eager: bool = False,
    precision: str = "bf16",
) -> list[dict]:
    """One row per loop. `compile` captures the fast step even where the preset does not; `eager` never
    captures it (it wins over both); `precision` labels the rows (the step uses bf16 where the GPU has it)."""
    preset = study_config.load(configfile)
    run_params = dict(preset["runs"][run])
    run_params["compile"] = (run_params.get("compile", False) or compile) and not eager
    model_params = preset["models"][run_params["model"]]
    dataset = preset["datasets"][run_params["dataset"]]
    dev = resolve_device(device)
    cpu_peak = peak_flops(dev) if dev.type == "cpu" else None
    versions = {k: v for k, v in provenance.versions().items() if k in ("python", "torch", "transformers")}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        log(f"bench: generating dataset {run_params['dataset']}")
        prompt_tokens, flops = _write_dataset(dataset, tmp, model_params, run_params["batch_size"])
        for loop in loops:
            count = processes if loop == "fast-concurrent" else 1
            log(f"bench: {loop} x{count} on {dev.type}, {warmup} warm-up + {steps} timed steps")
            results = _run_processes(
                count,
                "fast" if loop == "fast-concurrent" else loop,
                tmp,
                model_params,
                run_params,
                str(dev),
                steps,
                warmup,
            )
            steps_per_s = sum(r["steps_per_s"] for r in results)
            peak, peak_source = cpu_peak or peak_flops(dev, name=results[0]["device"])
            rows.append(
                {
                    "date": datetime.date.today().isoformat(),
                    "device": results[0]["device"],
                    "preset": preset["name"],
                    "run": run,
                    "loop": loop,
                    "processes": count,
                    "steps": steps,
                    "steps_per_s": round(steps_per_s, 3),
                    "tokens_per_s": round(steps_per_s * run_params["batch_size"] * prompt_tokens, 1),
                    "mfu": round(steps_per_s * flops / (peak * count), 4) if peak else "",
                    "peak_mem_gb": round(max(r["peak_mem_gb"] for r in results), 3),
                    "peak_flops_source": peak_source,
                    "versions": json.dumps(versions, sort_keys=True),
                    "notes": f"compile={run_params.get('compile', False)}; forward=public full trunk"
                    + (f"; precision={precision}" if dev.type == "cuda" else ""),
                }
            )
            log(f"bench: {loop}: {steps_per_s:.2f} steps/s")
    return rows


def append_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    with open(path, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerows(rows)
