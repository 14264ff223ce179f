"""Job records and `grokstudy why`: what each job ran with, put back by a restore and compared with the
checkout. The stories on a sealed smoke preset are in test_artifact_stories.py (story 8)."""

import json
from pathlib import Path

import pytest

from grokstudy.artifacts import job_records, why, workflow_state

DRY_RUN = """Building DAG of jobs...
Job stats:
job        count
-------  -------
all            1
report         1
train          1
total          3

rule train:
    input: results/s/data/comp/manifest.json
    output: results/s/runs/comp_s0/metrics.parquet, results/s/runs/comp_s0/run.json
    log: results/s/logs/train/comp_s0.log
    jobid: 4
    reason: Params have changed since last execution: before: 'a' now: 'b'
    wildcards: run=comp_s0
    threads: 1
    resources: tmpdir=/tmp, gpu=0
Shell command: grokstudy train --run-params '{"lr": 0.001}'

localrule report:
    input: results/s/claims.csv
    output: results/s/report/index.html
    jobid: 2
    reason: Input files updated by another job: results/s/runs/comp_s0/run.json
    resources: tmpdir=/tmp

localrule all:
    input: results/s/report/index.html
    jobid: 0
    reason: Input files updated by another job: results/s/report/index.html
    resources: tmpdir=/tmp

Job stats:
"""


def test_a_dry_runs_jobs_are_read_with_rule_wildcards_outputs_and_reason():
    jobs = workflow_state.parse_planned_jobs(DRY_RUN)
    assert [job.key for job in jobs] == ["train[run=comp_s0]", "report[]"]  # `all` makes nothing
    assert jobs[0].outputs == ("results/s/runs/comp_s0/metrics.parquet", "results/s/runs/comp_s0/run.json")
    assert jobs[0].reason.startswith("Params have changed")
    assert jobs[1].reason.startswith("Input files updated by another job")


def _record(code: str, modules: dict, **params) -> job_records.Record:
    record = job_records.Record(code={code: modules})
    for name, value in {"code": code, **params}.items():
        record.note("train", {"run": "comp_s0"}, name, value)
    return record


def _explained(recorded, current, reason="Params have changed since last execution"):
    job = workflow_state.PlannedJob("train", {"run": "comp_s0"}, ("metrics.parquet",), reason)
    return why.explain_jobs([job], recorded, current)[0]


def test_why_names_each_setting_that_changed_key_by_key():
    recorded = _record("c1", {"m": "1"}, run=json.dumps({"lr": 0.001, "schedule": {"warmup": 10}, "seed": 0}))
    current = _record("c1", {"m": "1"}, run=json.dumps({"lr": 0.002, "schedule": {"warmup": 20}, "seed": 0}))
    explained = _explained(recorded, current)
    assert explained.settings == [("run.lr", 0.001, 0.002), ("run.schedule.warmup", 10, 20)]
    assert explained.code is None and explained.cause == "settings"
    assert "setting run.lr: 0.001 -> 0.002" in "\n".join(why.describe(explained))


def test_why_names_the_modules_whose_syntax_tree_differs_and_those_added_or_removed():
    recorded = _record("c1", {"grokstudy.a": "1", "grokstudy.b": "2", "grokstudy.gone": "3"})
    current = _record("c2", {"grokstudy.a": "1", "grokstudy.b": "9", "grokstudy.new": "4"})
    explained = _explained(recorded, current)
    assert explained.code == ("c1", "c2")
    assert explained.modules == [("grokstudy.b", "changed"), ("grokstudy.gone", "removed"), ("grokstudy.new", "added")]
    assert explained.settings == [] and explained.cause == "code"


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ("Missing output files: results/s/runs/comp_s0/run.json", "missing output"),
        ("Input files updated by another job: results/s/data/comp/manifest.json", "upstream"),
        ("Updated input files: results/s/data/comp/manifest.json", "changed input"),
        ("Set of input files has changed since last execution", "inputs"),
    ],
)
def test_why_gives_snakemakes_reason_when_the_job_itself_did_not_change(reason, cause):
    record = _record("c1", {"m": "1"}, run="{}")
    explained = _explained(record, record, reason)
    assert explained.cause == cause and explained.recorded
    assert reason[:40] in "\n".join(why.describe(explained))


def test_why_says_when_nothing_recorded_the_files_on_disk():
    explained = _explained(None, _record("c1", {"m": "1"}))
    assert not explained.recorded and "no record" in "\n".join(why.describe(explained))


def test_replaying_a_record_gives_each_job_its_sealed_params_and_unknown_jobs_todays():
    sealed = _record("c-old", {"m": "1"}, run='{"lr": 0.001}')
    params = job_records.JobParams(replay=sealed).wrap("train", code="c-new", run=lambda w: '{"lr": 0.002}', extra=1)

    class Wildcards(dict):
        pass

    known, unknown = Wildcards(run="comp_s0"), Wildcards(run="comp_s1")
    assert params["code"](known) == "c-old" and params["run"](known) == '{"lr": 0.001}'
    assert params["extra"](known) == job_records.NOT_RECORDED  # a param the seal did not have reruns the job
    assert params["code"](unknown) == "c-new" and params["run"](unknown) == '{"lr": 0.002}'


def test_a_recorded_param_must_be_a_function_of_the_wildcards_alone():
    with pytest.raises(ValueError, match="recorded param out_dir"):
        job_records.JobParams().wrap("train", out_dir=lambda w, output: output[0])


def test_records_round_trip_and_merge_newer_jobs_over_older(tmp_path: Path):
    older = _record("c1", {"m": "1"}, run="{}")
    newer = _record("c2", {"m": "2"}, run='{"lr": 1}')
    job_records.write(older.merged(newer), tmp_path / "jobs.json")
    back = job_records.read(tmp_path / "jobs.json")
    assert back.jobs["train[run=comp_s0]"]["params"] == {"code": "c2", "run": '{"lr": 1}'}
    assert set(back.code) == {"c1", "c2"}
    (tmp_path / "old.json").write_text(json.dumps({"format": 0, "jobs": {}, "code": {}}))
    with pytest.raises(ValueError, match="format"):
        job_records.read(tmp_path / "old.json")
