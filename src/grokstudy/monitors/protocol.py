"""The monitors' protocol end to end: tune on the development runs, freeze, score every run with
the frozen detectors, and judge each monitor against the nulls on the held-out runs.

Runs come with a role: `dev` (tuning only), `held_out` (the test of a monitor), `non_grokking`
(trained runs expected never to generalize: their alarms are false alarms) and the random-init
band. Events (T50, T90) come from the runs' logged test accuracies and are read here only, to score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from grokstudy.monitors import frozen as frozen_file
from grokstudy.monitors import leads, tuning
from grokstudy.monitors.events import Events

BAND_LABELS = {"role": "band", "configuration": "random_init", "t50": None}


@dataclass(frozen=True)
class TuningSettings:
    """What the tuning fixes, and the frozen file records for scoring."""

    fit_threshold: float  # training accuracy (monitor job's sample) that ends the scaling window
    max_false_alarm: float  # band false alarms a tuned detector may raise
    schedule_fraction: float  # the schedule-only null alarms at this fraction of the dev median T90

    @classmethod
    def of(cls, settings: dict) -> TuningSettings:
        return cls(**{key: settings[key] for key in cls.__dataclass_fields__})


def key_name(key: tuple[str, str]) -> str:
    """A series (monitor, site) as the frozen file names it."""
    return f"{key[0]}|{key[1]}"


def key_of(name: str) -> tuple[str, str]:
    monitor, site = name.split("|", 1)
    return monitor, site


def series_of(run: str, frame: pd.DataFrame, key, reference: int, events: Events | None) -> leads.Series:
    rows = leads.select(frame, key)
    return leads.Series(
        run=run,
        steps=rows["step"].astype(int).tolist(),
        values=rows["value"].astype(float).tolist(),
        reference=reference,
        t90=events.t90 if events is not None else None,
        last_step=events.last_step if events is not None else int(rows["step"].max()),
    )


def band_series(band: pd.DataFrame, key, reference: int) -> list[leads.Series]:
    return [
        series_of(f"band{trajectory}", rows, key, reference, None)
        for trajectory, rows in band.groupby("trajectory", sort=True)
    ]


def development(
    frames: dict[str, pd.DataFrame], events: dict[str, Events], seeds: list[int], fit_threshold: float
) -> dict:
    """What the development runs (of these seeds) fix: their median fit (monitor-side) and median T90."""
    fits = {run: leads.fit_step(frame, fit_threshold) for run, frame in frames.items()}
    missing = sorted(run for run, step in fits.items() if step is None) + sorted(
        run for run in frames if events[run].t90 is None
    )
    if missing:
        raise ValueError(f"development runs {missing} never fit or never reach T90; tuning needs runs that do both")
    return {
        "seeds": sorted(seeds),
        "runs": sorted(frames),
        "fit": fits,
        "t90": {run: events[run].t90 for run in sorted(frames)},
        "median_fit": int(np.median(list(fits.values()))),
        "median_t90": int(np.median([events[run].t90 for run in frames])),
    }


def tuning_record(
    frames: dict[str, pd.DataFrame],
    events: dict[str, Events],
    seeds: list[int],
    band: pd.DataFrame,
    settings: TuningSettings,
) -> dict:
    """Every series' detectors tuned on the development runs (frames, events, their seeds) and the band."""
    dev = development(frames, events, seeds, settings.fit_threshold)
    first = frames[dev["runs"][0]]
    detectors = {}
    for key in leads.series_keys(first):
        dev_series = [series_of(run, frames[run], key, dev["fit"][run], events[run]) for run in dev["runs"]]
        noise = band_series(band, key, dev["median_fit"])
        detectors[key_name(key)] = {
            kind: _tuned_record(tuning.tune(dev_series, noise, kind, settings.max_false_alarm)) for kind in tuning.KINDS
        }
    return {
        "version": frozen_file.FORMAT_VERSION,
        "settings": asdict(settings),
        "development": dev,
        "detectors": detectors,
    }


def _tuned_record(tuned: dict | None) -> dict | None:
    if tuned is None:
        return None
    return {
        "detector": tuning.detector_record(tuned["detector"]),
        "dev_median_lead": tuned["dev_median_lead"],
        "band_false_alarm": tuned["band_false_alarm"],
    }


def lead_times(
    frames: dict[str, pd.DataFrame],
    events: dict[str, Events],
    roles: dict[str, tuple[str, str]],
    band: pd.DataFrame,
    frozen: dict,
) -> pd.DataFrame:
    """One row per run, series and frozen detector (and the schedule-only null per run): the alarm,
    the events, the lead and the outcome. `roles`: run -> (role, configuration)."""
    dev, fit_threshold = frozen["development"], frozen["settings"]["fit_threshold"]
    unfrozen = [key_name(key) for key in leads.series_keys(next(iter(frames.values())))]
    unfrozen = [name for name in unfrozen if name not in frozen["detectors"]]
    if unfrozen:
        raise ValueError(
            f"series {unfrozen} have no frozen detector; tune on the development runs and freeze again "
            "(grokstudy monitor-freeze) before scoring"
        )
    fits = {run: leads.fit_step(frame, fit_threshold) or dev["median_fit"] for run, frame in frames.items()}
    rows = []
    for name, kinds in frozen["detectors"].items():
        key = key_of(name)
        for kind, tuned in kinds.items():
            if tuned is None:
                continue
            detector = tuning.detector_from(tuned["detector"])
            labels = {"monitor": key[0], "site": key[1], "detector": kind, "detector_hash": _short(tuned)}
            for run, frame in frames.items():
                score = leads.score(series_of(run, frame, key, fits[run], events[run]), detector)
                rows.append({**_run_labels(run, roles, events), **labels, **score})
            for series in band_series(band, key, dev["median_fit"]):
                rows.append({**BAND_LABELS, **labels, **leads.score(series, detector)})
    rows += _schedule_rows(events, roles, dev["median_t90"], frozen["settings"]["schedule_fraction"])
    return pd.DataFrame(rows)


def _short(tuned: dict) -> str:
    return frozen_file.record_hash(tuned["detector"])[:12]


def _run_labels(run: str, roles, events) -> dict:
    role, configuration = roles[run]
    return {"role": role, "configuration": configuration, "t50": events[run].t50}


def _schedule_rows(events, roles, median_t90: int, fraction: float) -> list[dict]:
    t_alarm = leads.schedule_alarm(median_t90, fraction)
    labels = {"monitor": leads.SCHEDULE, "site": "dev_median_t90", "detector": f"fraction_{fraction:g}"}
    rows = []
    for run, event in events.items():
        fired = t_alarm if t_alarm <= event.last_step else None
        score = leads.scored(run, fired, event.t90, event.last_step)
        rows.append({**_run_labels(run, roles, events), **labels, "detector_hash": "", **score})
    return rows
