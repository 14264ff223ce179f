"""Test-time recurrence: a trained looped model run with r = 1 ... 3 x its training recurrence loops
of the same weights, with no retraining. Per split, the accuracy and the answer margin (the
target's logit minus the best other entity's) at every r, and how far the margin at r lies below
its peak over r, paired on the same items; on the ID test items also every item's margin, which R5
splits into halves. The fixed-recurrence side of "overthinking"."""

import numpy as np
import pandas as pd
import torch

from grokstudy.analyses.queries import PROBE_SPLITS, candidate_tokens
from grokstudy.batching import answer_logits, encode
from grokstudy.data import store
from grokstudy.models import recurrence, test_time_recurrence
from grokstudy.stats import bootstrap_mean_ci, paired_difference_ci

# How far beyond its training recurrence a model is run, as a multiple of it.
SWEEP_FACTOR = 3
# The splits kept per item: R5 picks the margin's peak on one half of the ID items, reads its drop on the other.
ITEM_SPLITS = ("test_inferred_id",)


def prepare(job) -> dict:
    frames = store.read_eval(job.data_dir)
    vocab = job.tokenizer.get_vocab()
    entity_ids = torch.tensor([vocab[token] for token in candidate_tokens(list(vocab), "entity")])
    return {
        "splits": {
            split: encode(frames[split], job.tokenizer).to(job.device)
            for split in PROBE_SPLITS
            if not frames[split].empty
        },
        "entity_ids": entity_ids.to(job.device),
    }


@torch.no_grad()
def item_scores(model, data, entity_ids: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per item: answered right (argmax over the vocabulary, as training evaluates) and the margin of
    the target over the best other entity."""
    logits = answer_logits(model, data).float()
    correct = logits.argmax(-1) == data.answer_id
    target = logits.gather(-1, data.answer_id.unsqueeze(-1)).squeeze(-1)
    others = logits[:, entity_ids].clone()
    others[entity_ids.unsqueeze(0) == data.answer_id.unsqueeze(-1)] = -torch.inf
    return correct.cpu().numpy(), (target - others.max(-1).values).cpu().numpy()


def sweep(model, prepared: dict) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """{split: {r: (correct, margin)}} for r = 1 ... SWEEP_FACTOR x the training recurrence."""
    trained = recurrence(model)
    scores: dict = {split: {} for split in prepared["splits"]}
    entity_ids = prepared["entity_ids"]
    for loops in range(1, SWEEP_FACTOR * trained + 1):
        with test_time_recurrence(model, loops):
            for split, data in prepared["splits"].items():
                scores[split][loops] = item_scores(model, data, entity_ids)
    return scores


def summary_rows(scores: dict, trained: int, settings: dict, **labels) -> list[dict]:
    """Per split and r: accuracy, mean margin with its bootstrap CI, and the paired drop of the margin
    from the split's peak r (the r of the highest mean margin)."""
    rows = []
    resamples, confidence = settings["bootstrap_resamples"], settings["confidence"]
    for split, by_loops in scores.items():
        peak = max(by_loops, key=lambda r: by_loops[r][1].mean())
        for loops, (correct, margin) in by_loops.items():
            low, high = bootstrap_mean_ci(margin, resamples, confidence, seed=loops)
            drop, drop_low, drop_high = paired_difference_ci(
                by_loops[peak][1] - margin, resamples, confidence, seed=loops
            )
            rows.append(
                {
                    **labels,
                    "split": split,
                    "recurrence": loops,
                    "trained_recurrence": trained,
                    "correct": int(correct.sum()),
                    "n": len(correct),
                    "accuracy": float(correct.mean()),
                    "margin": float(margin.mean()),
                    "margin_ci_low": low,
                    "margin_ci_high": high,
                    "peak_recurrence": peak,
                    "drop_from_peak": drop,
                    "drop_ci_low": drop_low,
                    "drop_ci_high": drop_high,
                    "confidence": confidence,
                }
            )
    return rows


def item_rows(scores: dict, **labels) -> pd.DataFrame:
    """Per split of ITEM_SPLITS, r and item (`item`: its index in the split, even for the selection
    half): answered right or not, and the margin."""
    frames = [
        pd.DataFrame(
            {
                **labels,
                "split": split,
                "recurrence": loops,
                "item": np.arange(len(correct)),
                "correct": correct,
                "margin": margin.astype(np.float32),
            }
        )
        for split, by_loops in scores.items()
        if split in ITEM_SPLITS
        for loops, (correct, margin) in by_loops.items()
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def per_checkpoint(model, step: int, job, prepared) -> dict:
    scores = sweep(model, prepared)
    return {
        "recurrence_sweep": summary_rows(scores, recurrence(model), job.settings, run=job.run, step=step),
        "recurrence_sweep_items": item_rows(scores, run=job.run, step=step),
    }
