"""Per-step process time of `train_run` with two versions of the training loop, same step.

Checks that restructuring the loop cost nothing: runs the default preset's composition run for a
few hundred steps through the loop module given on the command line and through the current
`grokstudy.training.loop`, alternating, with one torch thread, and prints ms per step.
Usage: .venv/bin/python benchmarks/loop_overhead.py OTHER_LOOP.py [--steps 200] [--rounds 2]
(for instance OTHER_LOOP.py from `git show REV:src/grokstudy/training/loop.py`).
"""

import argparse
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from grokstudy.data import store
from grokstudy.training import loop as current_loop

ROOT = Path(__file__).resolve().parents[1]
RUN = "comp_phi7.2_wd0.5"


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location("other_loop", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def short_run(preset: dict, steps: int) -> tuple[dict, dict, dict]:
    run = {**preset["run_defaults"], **preset["runs"][RUN], "steps": steps}
    run["checkpoints"] = {"count": 3, "dense_fraction": 0.1, "dense_count": 1}
    return run, preset["models"][run["model"]], preset["datasets"][run["dataset"]]


def ms_per_step(module, run: dict, model: dict, data_dir: Path, out_dir: Path) -> float:
    start = time.process_time()
    module.train_run(run, model, data_dir, out_dir, device="cpu", threads=1, progress=False)
    return 1e3 * (time.process_time() - start) / run["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run, model, dataset = short_run(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), args.steps)
    loops = {"other": load_module(args.other), "current": current_loop}
    times = {name: [] for name in loops}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        store.write(store.generate(dataset), dataset, data_dir)
        for round_ in range(args.rounds):
            for name, module in loops.items():
                times[name].append(ms_per_step(module, run, model, data_dir, Path(tmp) / f"{name}{round_}"))
    for name, values in times.items():
        print(f"{name}: {statistics.median(values):.1f} ms/step (rounds: {', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
