"""One pre-flight check of a GPU machine before any paper-scale GPU hour: environment, speed,
probe parity and a glimpse of the paper's composition runs. Run it through scripts/gpu-check.sh.

Everything it writes goes under one folder (default benchmarks/), STAMP being the start time:
  results.csv             benchmark rows appended (grokstudy bench's columns), unless another process uses the GPU
  gpu-check-STAMP.md      environment, benchmark, probe parity and glimpse, as markdown
  gpu-check-STAMP.json    the same facts as data
  gpu-glimpse-STAMP.csv   the glimpse's evaluations: run, phi, step, seconds, split, accuracy, loss, n
  gpu-glimpse-STAMP.md    the glimpse table and what it says about claims C1 and C3
With --tiny the same path runs on a tiny world and model for 2 steps on the CPU: about a minute on two
cores, most of it starting its seven worker processes.
"""

import argparse
import copy
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

PAPER_PRESET = Path("config/paper.yaml")
BENCH_RUN = "comp_phi7.2_wd0.1"
GLIMPSE_RUNS = ("comp_phi18_wd0.1", "comp_phi7.2_wd0.1")
# The glimpse processes load data and build the model before their clock starts.
GLIMPSE_SETUP_S = 35
MIN_GLIMPSE_S = 20
# What the paper reports for the glimpse's steps (docs/study.md §4).
PAPER_C1 = "paper: train >= 0.99 at about 14k steps while ID <= 0.092"
PAPER_C3 = "paper: phi = 18 reaches ID 0.967 as training saturates"


@dataclass(frozen=True)
class CheckPlan:
    preset: Path
    device: str
    tiny: bool
    budget_s: float  # the whole check, from start to the last file written
    bench_steps: int
    bench_warmup: int
    processes: int
    glimpse_s: float
    eval_every: int
    max_steps: int | None  # None: as many as fit in glimpse_s


def paper_plan(device: str, budget_s: float = 450, glimpse_s: float = 240) -> CheckPlan:
    return CheckPlan(
        PAPER_PRESET,
        device,
        False,
        budget_s,
        bench_steps=100,
        bench_warmup=10,
        processes=2,
        glimpse_s=glimpse_s,
        eval_every=1000,
        max_steps=None,
    )


def tiny_preset(paper: dict) -> dict:
    """The paper preset shrunk to a tiny world and model, 2 steps, on the CPU; every name kept."""
    tiny = copy.deepcopy(paper)
    tiny.update(name="gpu-check-tiny", device="cpu", threads_per_job=1)
    for dataset in tiny["datasets"].values():
        small = (
            {"entities": 100, "relations": 20}
            if dataset["task"] == "composition"
            else {"entities": 40, "attributes": 4, "values": 10}
        )
        dataset.update(small, max_eval_items=50, test_id_fraction=0.05)
    tiny["models"] = {name: {"d_model": 32, "layers": 2, "heads": 2, "dropout": 0.1} for name in tiny["models"]}
    tiny["run_defaults"].update(
        steps=2,
        warmup_steps=1,
        batch_size=64,
        eval_every=1,
        compile=False,
        checkpoints={"count": 2, "dense_fraction": 0.5, "dense_count": 1},
    )
    return tiny


def tiny_plan(workdir: Path) -> CheckPlan:
    preset = Path(workdir) / "gpu-check-tiny.yaml"
    preset.write_text(yaml.safe_dump(tiny_preset(yaml.safe_load(PAPER_PRESET.read_text())), sort_keys=False))
    return CheckPlan(
        preset,
        "cpu",
        True,
        budget_s=300,
        bench_steps=2,
        bench_warmup=1,
        processes=2,
        glimpse_s=60,
        eval_every=1,
        max_steps=2,
    )


def other_gpu_processes() -> list[str] | None:
    """Compute processes on the GPU other than this one; None when nvidia-smi cannot say."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,process_name,used_memory", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    lines = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return [line for line in lines if line.split(",")[0].strip() != str(os.getpid())]


# Run in a child process: a CUDA context in this one would show up in nvidia-smi as a process the
# check cannot tell from a stranger's (PIDs differ across container namespaces).
GPU_FACTS = """
import json, torch
facts = {"cuda_available": torch.cuda.is_available()}
if facts["cuda_available"]:
    try:
        bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:
        bf16 = torch.cuda.is_bf16_supported()
    props = torch.cuda.get_device_properties(0)
    facts.update(name=torch.cuda.get_device_name(0), bf16=bf16, capability=list(torch.cuda.get_device_capability(0)),
                 memory_gb=round(props.total_memory / 1e9, 1))
print(json.dumps(facts))
"""


def gpu_facts() -> dict:
    out = subprocess.run([sys.executable, "-c", GPU_FACTS], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def environment(plan: CheckPlan) -> dict:
    """What the check runs on, read without this process ever touching the GPU (see GPU_FACTS)."""
    import torch
    import transformers

    from grokstudy.benchmark.measure import device_name

    facts = gpu_facts() if plan.device != "cpu" else {"cuda_available": False}
    if plan.device == "cuda" and not facts["cuda_available"]:
        raise RuntimeError("device 'cuda' was requested but torch sees no GPU")
    on_gpu = facts["cuda_available"]
    env = {
        "device": facts["name"] if on_gpu else device_name(torch.device("cpu")),
        "device_type": "cuda" if on_gpu else "cpu",
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "bf16": bool(on_gpu and facts["bf16"]),
        "other_gpu_processes": other_gpu_processes() if on_gpu else [],
        "tiny": plan.tiny,
        **{k: facts[k] for k in ("capability", "memory_gb") if k in facts},
    }
    env["precision"] = "bf16" if env["bf16"] else "fp32"
    if on_gpu and not env["bf16"]:
        env["warning"] = "this GPU has no bf16: training falls back to fp32 (slower; not the pipeline's GPU path)"
    return env


def gpu_is_ours(env: dict) -> tuple[bool, str]:
    """Whether timings taken now are honest: nothing else may compute on the GPU."""
    if env["device_type"] != "cuda":
        return True, "CPU: no GPU to share"
    others = env["other_gpu_processes"]
    if others is None:
        return True, "nvidia-smi could not list GPU processes: exclusive use unverified"
    if others:
        return False, f"other processes use the GPU ({'; '.join(others)}): benchmark timings would be false"
    return True, "no other process on the GPU"


def run_benchmark(plan: CheckPlan, env: dict, out_dir: Path, log=print) -> dict:
    """Reference loop, fast path (the preset's compile setting), N concurrent fast processes, and the
    fast path eager; rows appended to OUT/results.csv only while the GPU is this check's alone."""
    from grokstudy.benchmark.measure import append_rows, benchmark

    ours, why = gpu_is_ours(env)
    if not ours:
        log(f"benchmark skipped: {why}")
        return {"appended": False, "why": why, "rows": []}
    common = {
        "steps": plan.bench_steps,
        "warmup": plan.bench_warmup,
        "processes": plan.processes,
        "device": plan.device,
        "precision": env["precision"],
        "log": log,
    }
    rows = benchmark(plan.preset, BENCH_RUN, loops=("reference", "fast", "fast-concurrent"), **common)
    rows += benchmark(plan.preset, BENCH_RUN, loops=("fast",), eager=True, **common)
    for row in rows:
        row["notes"] += "; gpu-check" + ("; " + why if "unverified" in why else "")
    still_ours, why_now = (
        gpu_is_ours({**env, "other_gpu_processes": other_gpu_processes()})
        if env["device_type"] == "cuda"
        else (True, why)
    )
    if not still_ours:
        log(f"benchmark rows not appended: {why_now}")
        return {"appended": False, "why": why_now, "rows": rows}
    append_rows(out_dir / "results.csv", rows)
    log(f"appended {len(rows)} rows to {out_dir / 'results.csv'}")
    return {"appended": True, "why": why, "rows": rows}


def _markdown_table(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def _bench_table(bench: dict) -> str:
    if not bench["rows"]:
        return f"Skipped: {bench['why']}."
    frame = pd.DataFrame(bench["rows"])[
        ["loop", "processes", "steps_per_s", "tokens_per_s", "mfu", "peak_mem_gb", "notes"]
    ]
    where = "appended to results.csv" if bench["appended"] else f"NOT appended ({bench['why']})"
    return f"{_markdown_table(frame)}\n\nRows {where}."


def prepare_glimpse_data(preset: dict, workdir: Path, log=print) -> dict[str, Path]:
    """The worlds of the glimpse runs, generated once for every process that trains on them."""
    from grokstudy.data import store

    dirs = {}
    for run in GLIMPSE_RUNS:
        name = preset["runs"][run]["dataset"]
        if name not in dirs.values():
            dataset = store.generate(preset["datasets"][name])
            store.write(dataset, preset["datasets"][name], workdir / name)
            log(f"glimpse data {name}: {dataset.counts['train']} training facts")
        dirs[run] = workdir / name
    return dirs


def glimpse(plan: CheckPlan, env: dict, preset: dict, data_dirs: dict, seconds: float) -> pd.DataFrame:
    from grokstudy.benchmark.glimpse import glimpse_job, run_glimpse

    jobs = [
        glimpse_job(data_dirs[run], run, preset, env["device_type"], seconds, plan.eval_every, plan.max_steps)
        for run in GLIMPSE_RUNS
    ]
    return run_glimpse(jobs, timeout_s=seconds + 600)


def glimpse_markdown(rows: pd.DataFrame, plan: CheckPlan, seconds: float) -> str:
    from grokstudy.benchmark.glimpse import reading_lines, wide_table

    notes = {"comp_phi7.2_wd0.1": PAPER_C1, "comp_phi18_wd0.1": PAPER_C3}
    speed = rows.groupby("run", sort=False).agg(steps=("step", "max"), seconds=("seconds", "max"))
    rates = "; ".join(f"{run}: {int(r.steps)} steps in {r.seconds:.1f} s" for run, r in speed.iterrows())
    table = wide_table(rows).reset_index()
    limit = f"at most {plan.max_steps} steps or {seconds:.0f} s" if plan.max_steps else f"{seconds:.0f} s"
    intro = (
        f"Runs side by side on {plan.preset}'s world and model, {limit} each, every split evaluated every "
        f"{plan.eval_every} steps. {rates}."
    )
    return "\n".join([intro, "", _markdown_table(table), "", *reading_lines(rows, notes), ""])


def run_check(plan: CheckPlan, out_dir: Path, workdir: Path, log=print) -> int:
    from grokstudy import config
    from grokstudy.benchmark.probe_parity import probe_parity

    started, tag = time.perf_counter(), stamp()
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment(plan)
    log("environment:\n" + json.dumps(env, indent=2, default=str))
    if env["device_type"] == "cpu" and not plan.tiny and plan.device != "cpu":
        log("no GPU visible: nothing to check (use --tiny for the CPU rehearsal of this script, or --device cpu)")
        return 2
    report = {"stamp": tag, "plan": plan.__dict__, "environment": env}
    report["benchmark"] = run_benchmark(plan, env, out_dir, log)
    preset = config.load(plan.preset)
    data_dirs = prepare_glimpse_data(preset, workdir, log)
    model_params = preset["models"][preset["runs"][BENCH_RUN]["model"]]
    report["probe_parity"] = probe_parity(data_dirs[BENCH_RUN], model_params, env["device_type"], max_queries=100)
    log(f"probe parity: {report['probe_parity']}")
    seconds = min(plan.glimpse_s, plan.budget_s - elapsed_since(started) - GLIMPSE_SETUP_S)
    if seconds < MIN_GLIMPSE_S:
        log(f"glimpse skipped: {seconds:.0f} s left of the budget")
        report["glimpse"] = "skipped: out of time"
    else:
        log(f"glimpse: {', '.join(GLIMPSE_RUNS)} at once for {seconds:.0f} s")
        rows = glimpse(plan, env, preset, data_dirs, seconds)
        rows.to_csv(out_dir / f"gpu-glimpse-{tag}.csv", index=False)
        report["glimpse"] = glimpse_markdown(rows, plan, seconds)
        (out_dir / f"gpu-glimpse-{tag}.md").write_text(f"# Glimpse {tag}\n\n{report['glimpse']}")
        log(report["glimpse"])
    report["seconds"] = round(elapsed_since(started), 1)
    write_json(out_dir / f"gpu-check-{tag}.json", report)
    (out_dir / f"gpu-check-{tag}.md").write_text(check_markdown(report))
    log(f"gpu check done in {report['seconds']:.0f} s; files in {out_dir}")
    return 0


def check_markdown(report: dict) -> str:
    env = report["environment"]
    lines = [f"# GPU check {report['stamp']}", "", "## Environment", "", "| item | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in env.items()]
    lines += [
        "",
        "## Benchmark",
        "",
        _bench_table(report["benchmark"]),
        "",
        "## Probe parity (device vs CPU, fp32)",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in report["probe_parity"].items()]
    lines += ["", "## Glimpse", "", report["glimpse"], "", f"Whole check: {report['seconds']} s.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gpu-check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks"), help="folder for everything written")
    parser.add_argument("--tiny", action="store_true", help="tiny world and model, 2 steps, on the CPU (tests)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--glimpse-seconds", type=float, default=240)
    parser.add_argument("--budget-seconds", type=float, default=450, help="the whole check, glimpse included")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as workdir:
        if args.tiny:
            plan = tiny_plan(Path(workdir))
        else:
            plan = paper_plan(args.device, args.budget_seconds, args.glimpse_seconds)
        return run_check(plan, args.out, Path(workdir))


def stamp() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def elapsed_since(started: float) -> float:
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
