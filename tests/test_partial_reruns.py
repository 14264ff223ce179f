"""Every parameter of the smoke preset, edited in turn, reruns exactly the jobs that use it.

The jobs a parameter feeds directly are written down below from what each job reads (the
study's design), independently of the code under test; everything downstream of them follows
from the inputs each job declares. Snakemake's plan (a dry run) must equal that set exactly.
"""

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from grokstudy import config
from study_repo import REPO, SMOKE, copy_tree, snakemake

pytestmark = pytest.mark.workflow

RAW = yaml.safe_load((REPO / SMOKE).read_text())
PRESET = config.resolve(RAW)
RUNS, PROBED = PRESET["runs"], PRESET["probes"]["runs"]
TRACED = [r for r in PROBED if config.task_of(PRESET, r) == "composition"]
CURVES = [c for c in ("accuracy_curves", "phi_sweep", "weight_decay", "data_size") if c in PRESET["figures"]]
CONTROL = PRESET["claims"]["control_run"]


# What each job reads, job by job: the downstream closure of a job set.
def consumers(job: str) -> set[str]:
    rule, _, name = job.partition("[")
    name = name.rstrip("]")
    if rule == "prepare_dataset":
        runs = [r for r, spec in RUNS.items() if spec["dataset"] == name]
        probed = [f"{rule_}[{r}]" for r in runs if r in PROBED for rule_ in ("probe_checkpoints", "probe_null_networks")]
        traced = [f"trace_causal_effects[{r}]" for r in runs if r in TRACED]
        # The dataset's baselines: the claims, and every curve figure drawing one of its runs.
        figures = {f"figure_{c}" for c in CURVES if set(runs) & set(PRESET["figures"][c]["runs"])}
        return {*(f"train[{r}]" for r in runs), *probed, *traced, *figures, "claims"}
    if rule == "train":
        figures = {f"figure_{c}" for c in CURVES if name in PRESET["figures"][c]["runs"]}
        probes = {f"{r}[{name}]" for r in ("probe_checkpoints", "trace_causal_effects") if name in (TRACED if r[0] == "t" else PROBED)}
        return figures | probes | {"claims", "report"}
    if rule in ("probe_checkpoints", "probe_null_networks"):
        return {f"figure_logit_lens[{name}]", "claims"}
    if rule == "trace_causal_effects":
        return {f"figure_causal_tracing[{name}]", "claims"}
    if rule.startswith("figure_") or rule == "claims":
        return {"report"}
    return set()


def closure(jobs: set[str]) -> set[str]:
    todo, done = list(jobs), set()
    while todo:
        job = todo.pop()
        if job not in done:
            done.add(job)
            todo.extend(consumers(job))
    return done


def every_job() -> set[str]:
    return closure({f"prepare_dataset[{d}]" for d in PRESET["datasets"]})


def _probe_jobs(seeds_only: bool = False) -> set[str]:
    jobs = {f"probe_null_networks[{r}]" for r in PROBED} | {f"trace_causal_effects[{r}]" for r in TRACED}
    return jobs if seeds_only else jobs | {f"probe_checkpoints[{r}]" for r in PROBED}


def direct_jobs(path: tuple) -> set[str]:
    """The jobs that read the parameter at `path` themselves."""
    head = path[0]
    if head == "name":
        return every_job()
    if head == "description":
        return {"report"}
    if head == "device":
        return {f"train[{r}]" for r in RUNS}
    if head == "threads_per_job":
        return set()  # a resource: the numbers do not depend on it
    if head == "datasets":
        return {f"prepare_dataset[{path[1]}]"}
    if head == "models":
        users = [r for r, spec in RUNS.items() if spec["model"] == path[1]]
        return {f"train[{r}]" for r in users} | {j for j in _probe_jobs(seeds_only=True) if j.split("[")[1][:-1] in users}
    if head == "run_defaults":
        return {f"train[{r}]" for r, raw in RAW["runs"].items() if path[1] not in (raw or {})}
    if head == "runs" and path[2] == "dataset":  # a new dataset, and the probes read the run's dataset too
        copy_of = f"prepare_dataset[{RUNS[path[1]]['dataset']}_copy]"
        return {f"train[{path[1]}]", copy_of, "claims"} | {j for j in _probe_jobs() if j.endswith(f"[{path[1]}]")} | {
            f"figure_{c}" for c in CURVES if path[1] in PRESET["figures"][c]["runs"]}
    if head == "runs":
        return {f"train[{path[1]}]"}
    if head == "probes":
        return _probe_jobs(seeds_only=path[1] == "null_seeds")
    if head == "figures":
        if path[1] == "dpi":
            figures = {f"figure_{c}" for c in CURVES} | {f"figure_logit_lens[{r}]" for r in PROBED}
            return figures | {f"figure_causal_tracing[{r}]" for r in TRACED}
        return {f"figure_{path[1]}"}
    if head == "claims":
        return {"claims"}
    raise KeyError(path)


# A valid different value for each parameter; the generic rule (ints + 1, floats x 0.9) where it fits.
SPECIAL = {
    "name": "smoke_renamed", "description": "edited", "device": "auto", "d_model": 64, "heads": 4,
    "dataset": lambda path: RUNS[path[1]]["dataset"] + "_copy",  # see edited_preset
    "null_seeds": lambda path: [*PRESET["probes"]["null_seeds"], 4242],
    "runs": lambda path: [*PRESET["figures"][path[1]]["runs"], next(r for r in RUNS if r not in PRESET["figures"][path[1]]["runs"])],
}
# Not edited: the only model's name, and the comparison run's dataset and claim (the preset has
# one comparison dataset and run); the claims' grokking run and its control, which must share a
# dataset and be probed, and the control's training facts; a dataset's task says which kind of
# entry it is (skipped below).
NOT_EDITED = {("run_defaults", "model"), ("runs", "cmp_phi7.2_wd0.1", "dataset"), ("claims", "comparison_run"),
              ("claims", "grokking_run"), ("claims", "control_run"), ("runs", CONTROL, "dataset"),
              ("runs", PRESET["claims"]["grokking_run"], "dataset"),
              ("runs", CONTROL, "training_facts")}


def edited_value(path: tuple, value):
    special = SPECIAL.get(path[-1] if not isinstance(path[-1], int) else path[-2])
    if callable(special):
        return special(path)
    if special is not None:
        return special
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return round(value * 0.9, 6)


def edited_preset(path: tuple, value) -> dict:
    """The smoke preset with one parameter edited. A run moved to another dataset moves to a copy of
    its own under a new name, so every figure and claim it serves stays valid."""
    raw = apply(RAW, path, edited_value(path, value))
    if path[0] == "runs" and path[-1] == "dataset":
        raw["datasets"][raw["runs"][path[1]]["dataset"]] = copy.deepcopy(RAW["datasets"][value])
    return raw


def leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and all(isinstance(v, float) for v in node):
        for index, value in enumerate(node):
            yield (*path, index), value
    else:
        yield path, node


# Every key of the first dataset of each task; of the other datasets, the seed (the same keys,
# checked once per task, keep the test short).
FIRST_OF_TASK = {ds["task"]: name for name, ds in reversed(list(PRESET["datasets"].items()))}


def _edited(path: tuple) -> bool:
    if path[-1] == "task" or path in NOT_EDITED or path[:2] == ("probes", "runs"):
        return False
    return path[0] != "datasets" or path[1] in FIRST_OF_TASK.values() or path[2] == "seed"


EDITS = [(path, value) for path, value in leaves(RAW) if _edited(path)]


def apply(raw: dict, path: tuple, value) -> dict:
    raw = copy.deepcopy(raw)
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


def planned(repo: Path, configfile: str) -> set[str]:
    """Jobs of a dry run as rule[wildcard value] (the `all` target left out)."""
    out = snakemake(repo, "-n", "--configfile", configfile).stdout
    jobs, rule = set(), None
    for line in out.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = match.group(1)
            jobs.add(rule)
        elif rule and (match := re.match(r"^\s+wildcards: \w+=(\S+)$", line)):
            jobs.discard(rule)
            jobs.add(f"{rule}[{match.group(1)}]")
            rule = None
    jobs.discard("all")
    return jobs


@pytest.fixture(scope="module")
def up_to_date_repo(tmp_path_factory) -> Path:
    """A copy of the repository where Snakemake records every smoke job as done (empty outputs)."""
    repo = copy_tree(tmp_path_factory.mktemp("reruns") / "repo")
    out = snakemake(repo, "-n", "--configfile", SMOKE).stdout
    for line in out.splitlines():
        if line.strip().startswith("output:"):
            for name in line.split(":", 1)[1].split(","):
                target = repo / name.strip()
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
    snakemake(repo, "--touch", "--forceall", "--cores", "1", "--configfile", SMOKE)
    assert planned(repo, SMOKE) == set()
    return repo


def _case_id(edit) -> str:
    return ".".join(map(str, edit[0]))


def test_every_parameter_of_the_smoke_preset_is_edited():
    edited = {path for path, _ in EDITS}
    assert len(edited) >= 50
    assert ("datasets", "comparison", "seed") in edited and ("probes", "null_seeds") in edited


def test_each_edit_reruns_exactly_the_jobs_that_use_it(up_to_date_repo):
    cases = [(path, edited_preset(path, value)) for path, value in EDITS]
    cases.append((("probes", "runs", "+comp_phi7.2_wd0.1"),
                  apply(RAW, ("probes", "runs"), [*PRESET["probes"]["runs"], "comp_phi7.2_wd0.1"])))
    for index, (_, raw) in enumerate(cases):
        config.resolve(raw)  # every edit is a valid preset
        (up_to_date_repo / f"config/edit_{index}.yaml").write_text(yaml.safe_dump(raw))
    with ThreadPoolExecutor(max_workers=2) as pool:
        plans = list(pool.map(lambda i: planned(up_to_date_repo, f"config/edit_{i}.yaml"), range(len(cases))))
    wrong = []
    for (path, _), plan in zip(cases, plans):
        if path[-1] == "+comp_phi7.2_wd0.1":
            added = "comp_phi7.2_wd0.1"
            expected = closure({f"probe_checkpoints[{added}]", f"probe_null_networks[{added}]", f"trace_causal_effects[{added}]"})
        else:
            expected = closure(direct_jobs(path))
        if plan != expected:
            wrong.append(f"{'.'.join(map(str, path))}: planned {sorted(plan)}, expected {sorted(expected)}")
    assert not wrong, "\n".join(wrong)
