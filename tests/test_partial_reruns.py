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
from grokstudy.analyses import registry
from study_repo import REPO, SMOKE, copy_tree, snakemake

pytestmark = pytest.mark.workflow

RAW = yaml.safe_load((REPO / SMOKE).read_text())
PRESET = config.resolve(RAW)
RUNS, PROBED = PRESET["runs"], PRESET["probes"]["runs"]
TRACED = [r for r in PROBED if config.task_of(PRESET, r) == "composition"]
CURVES = [c for c in ("accuracy_curves", "phi_sweep", "weight_decay", "data_size") if c in PRESET["figures"]]
CONTROL = PRESET["claims"]["control_run"]


# What each job reads, job by job: the downstream closure of a job set. Each analysis of a probed
# run has its null rule (run once per null set, the run's dataset and model) and its figure, or
# None; the rows of the analysis registry say which, so a new analysis is one row there too.
ANALYSES = {
    a.name: (a.null_rule if a.null_tables else None, f"figure_{a.name}" if a.figure else None)
    for a in registry.ANALYSES
}
CLAIMS_READ = {"logit_lens", "logit_lens_nulls", "causal_tracing"}


def null_set(run: str) -> str:
    return f"{RUNS[run]['dataset']}+{RUNS[run]['model']}"


def analysed(run: str, probed: bool = False) -> list[str]:
    """The analyses of a run: none unless it is probed (or `probed` says it now is); then those whose
    registry row applies to its task, training facts and architecture."""
    if run not in PROBED and not probed:
        return []
    spec = RUNS[run]
    architecture = PRESET["models"][spec["model"]].get("arch", "gpt2")
    task, facts = config.task_of(PRESET, run), spec.get("training_facts", "all")
    return [a.name for a in registry.ANALYSES if registry.applies(a, task, facts, architecture)]


def analysis_jobs(run: str, nulls: bool = True, checkpoints: bool = True, probed: bool = False) -> set[str]:
    jobs = set()
    for name in analysed(run, probed):
        null_rule = ANALYSES[name][0]
        jobs |= {f"{name}[{run}]"} if checkpoints else set()
        jobs |= {f"{null_rule}[{null_set(run)}]"} if nulls and null_rule else set()
    return jobs


def consumers(job: str) -> set[str]:
    rule, _, name = job.partition("[")
    name = name.rstrip("]")
    if rule == "prepare_dataset":
        runs = [r for r, spec in RUNS.items() if spec["dataset"] == name]
        # The dataset's baselines: the claims, and every curve figure drawing one of its runs.
        figures = {f"figure_{c}" for c in CURVES if set(runs) & set(PRESET["figures"][c]["runs"])}
        return {*(f"train[{r}]" for r in runs), *(j for r in runs for j in analysis_jobs(r)), *figures, "claims"}
    if rule == "train":
        figures = {f"figure_{c}" for c in CURVES if name in PRESET["figures"][c]["runs"]}
        return figures | analysis_jobs(name, nulls=False) | {"claims", "report"}
    for analysis, (null_rule, figure) in ANALYSES.items():
        if rule == analysis:
            runs = [name]
        elif rule == null_rule:
            runs = [r for r in PROBED if null_set(r) == name and analysis in analysed(r)]
        else:
            continue
        return {f"{figure}[{r}]" for r in runs if figure} | ({"claims"} if rule in CLAIMS_READ else set())
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


def _probe_jobs(key: str) -> set[str]:
    """The analysis jobs that read the `probes` setting `key`."""
    readers = {"null_seeds": {"logit_lens_nulls", "causal_tracing_nulls", "weight_norms_nulls"}}.get(
        key, {"logit_lens", "logit_lens_nulls", "causal_tracing", "causal_tracing_nulls"}
    )
    return {job for run in PROBED for job in analysis_jobs(run) if job.split("[")[0] in readers}


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
        return {f"train[{r}]" for r in users} | {j for r in users for j in analysis_jobs(r, checkpoints=False)}
    if head == "run_defaults":
        return {f"train[{r}]" for r, raw in RAW["runs"].items() if path[1] not in (raw or {})}
    if head == "runs" and path[2] == "dataset":  # a new dataset, and the probes read the run's dataset too
        copy_of = f"prepare_dataset[{RUNS[path[1]]['dataset']}_copy]"
        moved_nulls = {job.replace("+", "_copy+") for job in analysis_jobs(path[1], checkpoints=False)}
        return (
            {f"train[{path[1]}]", copy_of, "claims"}
            | analysis_jobs(path[1], nulls=False)
            | moved_nulls
            | {f"figure_{c}" for c in CURVES if path[1] in PRESET["figures"][c]["runs"]}
        )
    if head == "runs":
        return {f"train[{path[1]}]"}
    if head == "probes":
        return _probe_jobs(path[1])
    if head == "figures":
        if path[1] == "dpi":
            per_run = {f"{figure}[{r}]" for r in PROBED for a in analysed(r) if (figure := ANALYSES[a][1])}
            return {f"figure_{c}" for c in CURVES} | per_run
        return {f"figure_{path[1]}"}
    if head == "claims":
        return {"claims"}
    raise KeyError(path)


# A valid different value for each parameter; the generic rule (ints + 1, floats x 0.9) where it fits.
SPECIAL = {
    "name": "smoke_renamed",
    "description": "edited",
    "device": "auto",
    "d_model": 64,
    "heads": 4,
    "dataset": lambda path: RUNS[path[1]]["dataset"] + "_copy",  # see edited_preset
    "null_seeds": lambda path: [*PRESET["probes"]["null_seeds"], 4242],
    "runs": lambda path: [
        *PRESET["figures"][path[1]]["runs"],
        next(r for r in RUNS if r not in PRESET["figures"][path[1]]["runs"]),
    ],
}
# Not edited: the only model's name, and the comparison run's dataset and claim (the preset has
# one comparison dataset and run); the claims' grokking run and its controls, which must share a
# dataset and be probed, and the control's training facts; a dataset's task says which kind of
# entry it is (skipped below).
NOT_EDITED = {
    ("run_defaults", "model"),
    ("runs", "cmp_phi7.2_wd0.1", "dataset"),
    ("claims", "comparison_run"),
    ("claims", "grokking_run"),
    ("claims", "control_run"),
    ("runs", CONTROL, "dataset"),
    ("runs", PRESET["claims"]["grokking_run"], "dataset"),
    ("runs", CONTROL, "training_facts"),
}


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
    cases.append(
        (
            ("probes", "runs", "+comp_phi7.2_wd0.1"),
            apply(RAW, ("probes", "runs"), [*PRESET["probes"]["runs"], "comp_phi7.2_wd0.1"]),
        )
    )
    for index, (_, raw) in enumerate(cases):
        config.resolve(raw)  # every edit is a valid preset
        (up_to_date_repo / f"config/edit_{index}.yaml").write_text(yaml.safe_dump(raw))
    with ThreadPoolExecutor(max_workers=2) as pool:
        plans = list(pool.map(lambda i: planned(up_to_date_repo, f"config/edit_{i}.yaml"), range(len(cases))))
    wrong = []
    for (path, _), plan in zip(cases, plans, strict=True):
        if path[-1] == "+comp_phi7.2_wd0.1":
            added = "comp_phi7.2_wd0.1"
            expected = closure(analysis_jobs(added, nulls=False, probed=True))  # its null set is there already
        else:
            expected = closure(direct_jobs(path))
        if plan != expected:
            wrong.append(f"{'.'.join(map(str, path))}: planned {sorted(plan)}, expected {sorted(expected)}")
    assert not wrong, "\n".join(wrong)


# Edits of the code, each (file, text before, text after): the jobs a plan must hold afterwards.
STEP = "src/grokstudy/training/step.py"
LENS = "src/grokstudy/analyses/logit_lens.py"
CODE_EDITS = {
    "docstring_in_training_code": (STEP, '"""One optimizer step,', '"""One optimizer step (reworded),'),
    "comment_in_training_code": (STEP, "        self.optimizer.step()\n", "        self.optimizer.step()  # update\n"),
    "numeric_edit_in_the_training_step": (
        STEP,
        "loss = F.cross_entropy(logits.float(), batch.answer_id)",
        "loss = 1.5 * F.cross_entropy(logits.float(), batch.answer_id)",
    ),
    "numeric_edit_in_the_logit_lens": (
        LENS,
        "return (1.0 / (1.0 + rank.float()))",
        "return (1.0 / (2.0 + rank.float()))",
    ),
    "new_unrelated_module": ("src/grokstudy/unrelated_helper.py", None, "ANSWER = 42\n"),
}


def code_edit_expected(case: str) -> set[str]:
    if case == "numeric_edit_in_the_training_step":
        return closure({f"train[{r}]" for r in RUNS})
    if case == "numeric_edit_in_the_logit_lens":
        return closure({job for r in PROBED for job in analysis_jobs(r) if job.startswith("logit_lens")})
    return set()


@pytest.mark.parametrize("case", list(CODE_EDITS))
def test_a_code_edit_plans_exactly_the_jobs_whose_numbers_it_can_change(up_to_date_repo, case):
    path, before, after = CODE_EDITS[case]
    target = up_to_date_repo / path
    original = target.read_text() if target.exists() else None
    if before is None:
        assert original is None
        target.write_text(after)
    else:
        assert original.count(before) == 1, f"{path} no longer holds the edited text"
        target.write_text(original.replace(before, after))
    try:
        plan = planned(up_to_date_repo, SMOKE)
    finally:
        target.unlink() if original is None else target.write_text(original)
    assert plan == code_edit_expected(case)
