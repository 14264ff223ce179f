"""The monitors' protocol on synthetic runs whose answer is known: tuning on dev runs, frozen
detectors, lead times against the nulls, the verdicts, and the commands that chain them."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from grokstudy.analyses.runner import write_table
from grokstudy.monitors import frozen, leads, protocol, registry, tuning, verdicts
from grokstudy.monitors.events import Events
from grokstudy.training.schedule import checkpoint_steps

STEPS = checkpoint_steps(5000, 30, 0.1, 10)
EVAL_STEPS = sorted(set(range(0, 5001, 100)) | set(STEPS))
TUNING = protocol.TuningSettings(fit_threshold=0.99, max_false_alarm=0.1, schedule_fraction=0.75)
JUDGING = verdicts.JudgingSettings(max_false_alarm=0.1, min_hits=0.8, resamples=300, confidence=0.9)


def _noise(rng, n, scale=0.02):
    return rng.normal(0.0, scale, n)


# Every candidate of the registry has a series (tuning refuses tables that leave one out); those
# the cases below do not shape only wander.
WANDERING = [(monitor, site or "resid.2@r1") for monitor, site in registry.candidates()]
GROUP_OF = {
    "train_accuracy": "fit",
    "train_loss": "fit",
    **{monitor: group.name for group in registry.MONITORS for monitor, _ in group.candidates},
}


def monitor_frame(run: str, seed: int, fit: int, rise: int | None, signal_rises: bool = True) -> pd.DataFrame:
    """A run's monitors: training accuracy reaches 1 at `fit`; `announcer` climbs from `rise` on
    (a monitor that sees generalization coming); `noise` and the nulls' series only wander."""
    rng = np.random.default_rng(seed)
    steps = np.array(STEPS)
    series = {
        ("train_accuracy", "train"): np.where(steps >= fit, 1.0, steps / fit * 0.9),
        ("train_loss", "train"): np.where(steps >= fit, 0.01, 4.0 * (1 - steps / fit)) + _noise(rng, len(steps), 0.001),
        ("norm", "total"): 30 + _noise(rng, len(steps)),
        ("norm", "unembedding"): 5 + _noise(rng, len(steps)),
        ("commutator_defect", "train"): 1 + _noise(rng, len(steps)),
    }
    announcer = 1 + _noise(rng, len(steps))
    if rise is not None and signal_rises:
        announcer = announcer + np.where(steps > rise, 10.0 * np.log10(np.maximum(steps, 1) / rise), 0.0)
    series[("gradient_coherence", "train")] = announcer
    for key in WANDERING:
        series.setdefault(key, 2 + _noise(rng, len(steps)))
    rows = [
        {
            "run": run,
            "network": "trained",
            "trajectory": -1,
            "step": int(step),
            "group": GROUP_OF[m],
            "monitor": m,
            "site": s,
            "value": float(v),
        }
        for (m, s), values in series.items()
        for step, v in zip(steps, values, strict=True)
    ]
    return pd.DataFrame(rows)


def band_frame(trajectories: int = 8) -> pd.DataFrame:
    frames = []
    for t in range(trajectories):
        rng = np.random.default_rng(1000 + t)
        shaped = [
            ("train_accuracy", "train"),
            ("train_loss", "train"),
            ("norm", "total"),
            ("norm", "unembedding"),
            ("commutator_defect", "train"),
            ("gradient_coherence", "train"),
        ]
        keys = dict.fromkeys([*shaped, *WANDERING])
        for m, s in keys:
            values = 1 + rng.normal(0, 0.02, len(STEPS))
            frames.append(
                pd.DataFrame(
                    {
                        "run": "random_init",
                        "network": "random_init",
                        "trajectory": t,
                        "step": STEPS,
                        "group": GROUP_OF[m],
                        "monitor": m,
                        "site": s,
                        "value": values,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def study(non_grokking_announcer: bool = False, held_out_generalize: bool = True):
    """Two dev runs, six held-out runs, and two non-grokking configurations of two runs each: frames,
    events and roles. With `non_grokking_announcer` the announcer rises on the "flat" runs only; the
    "shuffled" runs stay quiet."""
    frames, events, roles = {}, {}, {}
    for seed in range(8):
        fit = 1000 + 40 * seed
        t90 = 2 * fit if (seed < 2 or held_out_generalize) else None
        run = f"grok.s{seed}"
        frames[run] = monitor_frame(run, seed, fit, rise=int(1.05 * fit) if t90 else None)
        events[run] = Events(t_fit=fit, t50=int(1.8 * fit) if t90 else None, t90=t90, last_step=5000)
        roles[run] = ("dev" if seed < 2 else "held_out", "grok")
    for seed in (2, 3):
        run = f"flat.s{seed}"
        frames[run] = monitor_frame(run, 50 + seed, 1100, rise=1400, signal_rises=non_grokking_announcer)
        events[run] = Events(t_fit=1100, t50=None, t90=None, last_step=5000)
        roles[run] = ("non_grokking", "flat")
        run = f"shuffled.s{seed}"
        frames[run] = monitor_frame(run, 60 + seed, 1100, rise=None)
        events[run] = Events(t_fit=1100, t50=None, t90=None, last_step=5000)
        roles[run] = ("non_grokking", "shuffled")
    return frames, events, roles


def evaluated(**options):
    frames, events, roles = study(**options)
    dev = [run for run, (role, _) in roles.items() if role == "dev"]
    band = band_frame()
    record = protocol.tuning_record({r: frames[r] for r in dev}, {r: events[r] for r in dev}, [0, 1], band, TUNING)
    table = protocol.lead_times(frames, events, roles, band, record)
    return record, table, verdicts.monitors_table(table, record, {}, JUDGING)


def row(summary: pd.DataFrame, monitor: str, detector: str = "cusum") -> pd.Series:
    return summary[(summary["monitor"] == monitor) & (summary["detector"] == detector)].iloc[0]


def test_a_monitor_that_rises_before_generalization_is_claimed():
    _, table, summary = evaluated()
    announcer = row(summary, "gradient_coherence")
    assert announcer["verdict"] == "predicts", announcer.to_dict()
    assert announcer["hits"] == announcer["held_out"] == 6
    assert announcer["median_lead"] > 0 and announcer["median_lead_low"] > 0
    held = table[(table["monitor"] == "gradient_coherence") & (table["role"] == "held_out")]
    assert (held["t_alarm"] < held["t90"]).all() and (held["t_alarm"] > 1000).all()


def test_a_monitor_that_only_wanders_is_not_claimed():
    _, _, summary = evaluated()
    for monitor in ("commutator_defect", "norm"):
        for _, entry in summary[(summary["monitor"] == monitor) & (summary["verdict"] != "null")].iterrows():
            assert entry["verdict"] != "predicts", entry.to_dict()


def test_alarms_on_runs_that_never_generalize_are_false_alarms_and_block_the_claim():
    _, _, summary = evaluated(non_grokking_announcer=True)
    announcer = row(summary, "gradient_coherence")
    assert announcer["false_alarms"] == 2 and announcer["non_grokking"] == 4
    assert announcer["verdict"].startswith("does not predict") and "false alarms 2/4" in announcer["verdict"]


def test_false_alarms_are_given_per_non_grokking_configuration_and_the_rule_counts_them_all():
    _, _, summary = evaluated(non_grokking_announcer=True)
    announcer = row(summary, "gradient_coherence")
    assert verdicts.non_grokking_configurations(summary) == ["flat", "shuffled"]
    assert (announcer["false_alarms:flat"], announcer["non_grokking:flat"]) == (2, 2)
    assert (announcer["false_alarms:shuffled"], announcer["non_grokking:shuffled"]) == (0, 2)
    view = verdicts.monitors_view(summary).set_index(["monitor", "detector"])
    shown = view.loc[("gradient_coherence (train)", "cusum")]
    assert (shown["false alarms"], shown["false alarms flat"], shown["false alarms shuffled"]) == ("2/4", "2/2", "0/2")
    # A table written before the split keeps its view.
    old = summary.drop(columns=[c for c in summary.columns if ":" in c])
    assert not any(c.startswith("false alarms ") for c in verdicts.monitors_view(old).columns)


def test_held_out_runs_that_learn_nothing_support_no_claim():
    _, table, summary = evaluated(held_out_generalize=False)
    assert (summary.loc[summary["verdict"] != "null", "verdict"] != "predicts").all()
    assert summary["verdict"].str.startswith(("inconclusive", "no detector", "null")).all()
    assert set(table.loc[table["role"] == "held_out", "outcome"]) <= {"false_alarm", "quiet"}


def test_tuning_reads_only_what_it_is_given_and_refuses_dev_runs_that_never_generalize():
    frames, events, _ = study()
    dev = {r: frames[r] for r in ("grok.s0", "grok.s1")}
    record = protocol.tuning_record(dev, {r: events[r] for r in dev}, [0, 1], band_frame(), TUNING)
    assert record["development"]["runs"] == ["grok.s0", "grok.s1"]
    assert record["development"]["median_t90"] == 2040 and record["development"]["seeds"] == [0, 1]
    never = {**events, "grok.s1": Events(t_fit=1040, t50=None, t90=None, last_step=5000)}
    with pytest.raises(ValueError, match="never fit or never reach T90"):
        protocol.tuning_record(dev, {r: never[r] for r in dev}, [0, 1], band_frame(), TUNING)


def test_a_tuned_detector_keeps_the_band_quiet():
    record, _, _ = evaluated()
    for kinds in record["detectors"].values():
        for tuned in kinds.values():
            assert tuned is None or tuned["band_false_alarm"] <= TUNING.max_false_alarm


def test_schedule_null_alarms_at_the_frozen_fraction_of_the_dev_median():
    record, table, _ = evaluated()
    schedule = table[table["monitor"] == leads.SCHEDULE]
    assert set(schedule["t_alarm"]) == {round(0.75 * record["development"]["median_t90"])}
    assert len(schedule) == 12  # 8 grokking and 4 non-grokking runs


def test_lead_outcomes_and_the_miss_convention():
    assert leads.lead(2000, 1000, 5000) == pytest.approx(math.log10(2))
    assert leads.lead(2000, None, 5000) == pytest.approx(math.log10(2000 / 5000))
    assert math.isnan(leads.lead(None, 1000, 5000))
    assert [leads.outcome(2000, 1000), leads.outcome(2000, 2000), leads.outcome(2000, None)] == ["hit", "late", "miss"]
    assert [leads.outcome(None, 10), leads.outcome(None, None)] == ["false_alarm", "quiet"]


def test_exact_sign_test():
    assert leads.exact_sign_test([1.0] * 9) == pytest.approx(1 / 512)
    assert leads.exact_sign_test([1, 1, -1]) == pytest.approx(0.5)
    assert leads.exact_sign_test([0.0, float("nan")]) == 1.0


def test_hierarchical_bootstrap_resamples_configurations_and_seeds():
    point, low, high = leads.hierarchical_bootstrap_median({"a": [0.1, 0.2, 0.3], "b": [0.5, 0.6, 0.7]}, 500, 0.9)
    assert point == pytest.approx(0.4) and low < point < high
    assert low >= 0.1 and high <= 0.7
    same = leads.hierarchical_bootstrap_median({"a": [0.2] * 5}, 200, 0.9)
    assert same == pytest.approx((0.2, 0.2, 0.2))


def test_frozen_file_is_read_only_by_its_hash(tmp_path):
    record, _, _ = evaluated()
    path = tmp_path / "detectors.json"
    digest = frozen.write_frozen(record, path)
    assert frozen.read_frozen(path, digest) == json.loads(path.read_text())
    changed = json.loads(path.read_text())
    changed["settings"]["schedule_fraction"] = 0.5
    path.write_text(json.dumps(changed))
    with pytest.raises(ValueError, match="the preset froze"):
        frozen.read_frozen(path, digest)


def test_detector_records_round_trip():
    for kind in tuning.KINDS:
        for detector in tuning.grid(kind):
            assert tuning.detector_from(tuning.detector_record(detector)) == detector


def _write_study(root, frames, events):
    """Monitor tables with sidecars, and metrics tables with run summaries, as the jobs write them."""
    from grokstudy import provenance

    paths = {}
    for run, frame in frames.items():
        for group, rows in frame.groupby("group"):
            write_table(
                rows, root / "monitors" / group / f"{run}.parquet", {"group": group, "seconds_per_network": 0.5}
            )
        metrics = root / "runs" / run / "metrics.parquet"
        metrics.parent.mkdir(parents=True)
        event = events[run]
        rows = [
            {"step": s, "split": split, "accuracy": _accuracy(s, at), "loss": 0.0}
            for s in EVAL_STEPS
            for split, at in (("train_inferred", event.t_fit), ("test_inferred_id", event.t90))
        ]
        pd.DataFrame(rows).to_parquet(metrics, index=False)
        provenance.write_json(metrics.with_name("run.json"), {"metrics_sha256": provenance.file_sha256(metrics)})
        paths[run] = (sorted((root / "monitors").glob(f"*/{run}.parquet")), metrics)
    return paths


def _accuracy(step: int, at: int | None) -> float:
    return 1.0 if at is not None and step >= at else 0.1


def test_the_commands_tune_freeze_score_and_draw(tmp_path):
    from grokstudy import cli, results

    frames, events, roles = study()
    # Events as the metrics give them: the first evaluation at or after the synthetic step.
    events = {
        r: Events(e.t_fit, e.t50, min(s for s in EVAL_STEPS if s >= e.t90) if e.t90 else None, 5000)
        for r, e in events.items()
    }
    paths = _write_study(tmp_path, frames, events)
    write_table(band_frame(), tmp_path / "band.parquet", {})
    settings = json.dumps({"fit_threshold": 0.99, "max_false_alarm": 0.1, "schedule_fraction": 0.75})
    dev = ["grok.s0", "grok.s1"]
    assert (
        cli.main(
            [
                "monitor-tune",
                "--runs",
                *dev,
                "--monitors",
                *(str(table) for r in dev for table in paths[r][0]),
                "--metrics",
                *(str(paths[r][1]) for r in dev),
                "--band",
                str(tmp_path / "band.parquet"),
                "--seeds",
                "[0, 1]",
                "--settings",
                settings,
                "--out",
                str(tmp_path / "tuning.json"),
            ]
        )
        == 0
    )
    assert (
        cli.main(["monitor-freeze", "--tuning", str(tmp_path / "tuning.json"), "--out", str(tmp_path / "frozen.json")])
        == 0
    )
    assert (
        cli.main(["monitor-freeze", "--tuning", str(tmp_path / "tuning.json"), "--out", str(tmp_path / "frozen.json")])
        == 2
    )  # never overwritten
    digest = frozen.record_hash(json.loads((tmp_path / "frozen.json").read_text()))
    runs = list(frames)
    common = [
        "--runs",
        *runs,
        "--monitors",
        *(str(table) for r in runs for table in paths[r][0]),
        "--metrics",
        *(str(paths[r][1]) for r in runs),
        "--band",
        str(tmp_path / "band.parquet"),
    ]
    judging = json.dumps({"max_false_alarm": 0.1, "min_hits": 0.8, "resamples": 200, "confidence": 0.9})
    assert (
        cli.main(
            [
                "monitor-leads",
                *common,
                "--roles",
                json.dumps(roles),
                "--detectors",
                str(tmp_path / "frozen.json"),
                "--detectors-sha256",
                digest,
                "--settings",
                judging,
                "--out-lead-times",
                str(tmp_path / "summary" / "lead_times.parquet"),
                "--out-table",
                str(tmp_path / "summary" / "monitors_table.parquet"),
            ]
        )
        == 0
    )
    summary = results.read_table(tmp_path / "summary" / "monitors_table.parquet")
    assert row(summary, "gradient_coherence")["verdict"] == "predicts"
    assert row(summary, "gradient_coherence")["seconds_per_checkpoint"] == 0.5
    assert (
        cli.main(
            [
                "monitor-figures",
                *common,
                "--lead-times",
                str(tmp_path / "summary" / "lead_times.parquet"),
                "--table",
                str(tmp_path / "summary" / "monitors_table.parquet"),
                "--roles",
                json.dumps(roles),
                "--dpi",
                "40",
                "--out-dir",
                str(tmp_path / "figures"),
            ]
        )
        == 0
    )
    drawn = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    groups = [f"{group.figure_stem}.png" for group in registry.MONITORS]
    assert drawn == sorted([*groups, "monitor_alarm_times.png", "monitor_false_alarms.png", "monitor_leads.png"])


def test_the_printed_monitors_table_is_the_reports_view_row_by_row(tmp_path):
    from grokstudy import claims_table, report

    _, _, summary = evaluated()
    write_table(summary, tmp_path / claims_table.MONITORS_TABLE, {})
    lines = claims_table.monitors_markdown(tmp_path).splitlines()
    view = verdicts.monitors_view(summary)
    assert lines[0] == "| " + " | ".join(view.columns) + " |" and len(lines) == 2 + len(summary)
    announcer = next(line for line in lines if line.startswith("| gradient_coherence") and "| cusum |" in line)
    assert "| 6/6 |" in announcer and announcer.endswith("| predicts |")
    with pytest.raises(FileNotFoundError, match="run or restore the preset first"):
        claims_table.monitors_markdown(tmp_path / "elsewhere")
    claims = pd.DataFrame({"claim": ["C1"], "status": ["reproduced"]})
    report.build("m", "", [], {}, claims, [], tmp_path / "r.html", view)
    page = (tmp_path / "r.html").read_text()
    assert page.count("<td>predicts</td>") == (view["verdict"] == "predicts").sum() == 2
    assert all(f"<td>{monitor}</td>" in page for monitor in view["monitor"])
