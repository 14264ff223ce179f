"""Artifact classes, Snakemake plan parsing and cache integrity checks, without DVC or Snakemake runs."""

import hashlib
import json

import yaml

from grokstudy.artifacts import classes, integrity
from grokstudy.artifacts.workflow_state import parse_job_stats

DRY_RUN = """Building DAG of jobs...
Job stats:
job                 count
----------------  -------
figure_phi_sweep        1
report                  1
all                     1
total                   3

[Mon Nov 23 09:00:00 2026]
"""


def test_a_partial_choice_pulls_what_the_workflow_needs_but_never_checkpoints():
    assert classes.closure(["figures"]) == ["data", "metrics", "probes", "figures"]
    assert classes.closure(["checkpoints"]) == ["checkpoints"]
    assert classes.snakemake_targets(classes.closure(["probes"])) == ["probe_tables", "trained_runs", "datasets"]
    assert classes.snakemake_targets(["checkpoints", "logs"]) == []
    assert classes.unknown(["figures", "weights"]) == ["weights"]


def test_job_stats_are_read_from_a_dry_run():
    assert parse_job_stats(DRY_RUN) == {"figure_phi_sweep": 1, "report": 1, "all": 1}
    assert parse_job_stats("Nothing to be done (all requested files are present and up to date).") == {}


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_corrupt_cache_objects_and_damaged_files_are_named(tmp_path):
    cache = tmp_path / "cache"
    files = {"a.png": b"figure a", "sub/b.csv": b"1,2,3"}
    listing = json.dumps([{"relpath": k, "md5": _md5(v)} for k, v in files.items()]).encode()
    for data in [*files.values(), listing]:
        md5 = _md5(data)
        obj = cache / "files" / "md5" / md5[:2] / md5[2:]
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
    dir_md5 = _md5(listing)
    (cache / "files" / "md5" / dir_md5[:2] / dir_md5[2:]).rename(
        cache / "files" / "md5" / dir_md5[:2] / (dir_md5[2:] + ".dir")
    )
    pointer = tmp_path / "figures.dvc"
    pointer.write_text(yaml.safe_dump({"outs": [{"md5": dir_md5 + ".dir", "path": "figures"}]}))
    for rel, data in files.items():
        (tmp_path / "figures" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "figures" / rel).write_bytes(data)

    assert integrity.corrupt_cache_objects([pointer], cache) == []
    assert integrity.workspace_mismatches([pointer], cache) == []

    bad = cache / "files" / "md5" / _md5(b"figure a")[:2] / _md5(b"figure a")[2:]
    bad.write_bytes(b"garbage")
    (tmp_path / "figures" / "sub" / "b.csv").write_bytes(b"edited")
    assert integrity.corrupt_cache_objects([pointer], cache) == [(tmp_path / "figures" / "a.png", bad)]
    assert integrity.workspace_mismatches([pointer], cache) == [tmp_path / "figures" / "sub" / "b.csv"]

    integrity.discard(bad)
    assert not bad.exists()
    assert integrity.corrupt_cache_objects([pointer], cache) == []
    assert integrity.missing_cache_objects([pointer], cache) == [tmp_path / "figures" / "a.png"]

    unfetched = tmp_path / "probes.dvc"
    unfetched.write_text(yaml.safe_dump({"outs": [{"md5": "0" * 32 + ".dir", "path": "probes"}]}))
    assert integrity.missing_cache_objects([unfetched], cache) == [tmp_path / "probes"]


def test_a_corrupt_directory_listing_is_named_with_the_remote_objects_to_delete(tmp_path):
    cache = tmp_path / "cache"
    files = {"a.png": b"figure a", "b.csv": b"1,2,3"}
    listing = json.dumps([{"relpath": k, "md5": _md5(v)} for k, v in files.items()]).encode()
    dir_md5 = _md5(listing) + ".dir"
    for md5, data in [*((_md5(v), v) for v in files.values()), (dir_md5, listing)]:
        obj = cache / integrity.object_key(md5)
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_bytes(data)
    pointer = tmp_path / "figures.dvc"
    pointer.write_text(yaml.safe_dump({"outs": [{"md5": dir_md5, "path": "figures"}]}))
    listing_obj = cache / integrity.object_key(dir_md5)
    assert integrity.present_objects([pointer], cache) == {
        listing_obj,
        *(cache / integrity.object_key(_md5(v)) for v in files.values()),
    }

    bad = cache / integrity.object_key(_md5(b"1,2,3"))
    bad.write_bytes(b"garbage")
    corrupt = integrity.corrupt_cache_objects([pointer], cache)
    assert corrupt == [(tmp_path / "figures" / "b.csv", bad)]
    assert integrity.corrupt_cache_objects([pointer], cache, skip={bad}) == []
    assert integrity.remote_objects([pointer], corrupt, cache, "s3://bucket/store/") == [
        f"s3://bucket/store/{integrity.object_key(_md5(b'1,2,3'))}",
        f"s3://bucket/store/{integrity.object_key(dir_md5)}",
    ]

    listing_obj.write_bytes(listing + b" ")
    corrupt = integrity.corrupt_cache_objects([pointer], cache)
    assert corrupt == [(tmp_path / "figures", listing_obj)]
    listing_key = integrity.object_key(dir_md5)
    assert integrity.remote_objects([pointer], corrupt, cache, "/remote") == [f"/remote/{listing_key}"]


SUMMARY_ROWS = [
    # output_file, date, rule, log-file(s), input-file(s), shellcmd, status, plan ('-': no record)
    (
        "results/s/figures/a.png",
        "Thu",
        "figure_a",
        "logs/a.log",
        "runs/r/metrics.parquet",
        "grokstudy figure",
        "ok",
        "no update",
    ),
    (
        "results/s/probes/r/checkpoint_accuracy.parquet",
        "-",
        "probe_checkpoints",
        "logs/p.log",
        "x",
        "grokstudy probe",
        "missing",
        "no update",
    ),
    ("results/s/probes/q/logit_lens.parquet", "Thu", "probe_checkpoints", "-", "-", "-", "ok", "no update"),
    (
        "results/s/runs/r/run.json",
        "Thu",
        "train",
        "logs/t.log",
        "x",
        "grokstudy train",
        "params changed",
        "update pending",
    ),
]
DETAILED_SUMMARY = (
    "Building DAG of jobs...\n"
    + "\n".join(
        "\t".join(row)
        for row in [
            ("output_file", "date", "rule", "log-file(s)", "input-file(s)", "shellcmd", "status", "plan"),
            *SUMMARY_ROWS,
        ]
    )
    + "\n"
)


def test_every_output_is_read_from_the_detailed_summary_with_what_is_wrong_with_it():
    from grokstudy.artifacts.workflow_state import parse_detailed_summary

    rows = parse_detailed_summary(DETAILED_SUMMARY)
    assert [r.path for r in rows][:2] == ["results/s/figures/a.png", "results/s/probes/r/checkpoint_accuracy.parquet"]
    assert [r.problem for r in rows] == [None, "missing", "no record in Snakemake's metadata", "params changed"]
    assert parse_detailed_summary("Nothing to be done.") == []
