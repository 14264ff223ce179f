"""Attribute comparison over entities with ordinal values (docs/study.md §2).

Every (entity, attribute) has a value; all these atomic facts are trained. Per
attribute a random fraction of entities is OOD. Ordered pairs of distinct ID
entities are training candidates or ID test (routed per unordered pair, so both
orders land on the same side); OOD-OOD pairs are the OOD test; mixed pairs are dropped.
"""

import numpy as np
import pandas as pd

from grokstudy.data import tokens
from grokstudy.data.dataset import Dataset, sample_rows
from grokstudy.data.specs import ATOMIC, INFERRED, ComparisonSpec
from grokstudy.errors import ConfigError


def _pairs(members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs i < j of the given entities."""
    i, j = np.triu_indices(len(members), k=1)
    return members[i], members[j]


def _label(v1: np.ndarray, v2: np.ndarray) -> list[str]:
    return [tokens.LABELS[int(np.sign(a - b)) + 1] for a, b in zip(v1, v2, strict=True)]


def _inferred_frame(attr: np.ndarray, e1: np.ndarray, e2: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    v1, v2 = values[e1, attr], values[e2, attr]
    return pd.DataFrame(
        {
            "prompt": [
                f"{tokens.attribute(a)} {tokens.QUERY} {tokens.entity(x)} {tokens.MASK} {tokens.entity(y)}"
                for a, x, y in zip(attr, e1, e2, strict=True)
            ],
            "answer": _label(v1, v2),
            "kind": INFERRED,
            "value1": [tokens.value(v) for v in v1],
            "value2": [tokens.value(v) for v in v2],
        }
    )


def _both_orders(attr, e1, e2):
    return np.concatenate([attr, attr]), np.concatenate([e1, e2]), np.concatenate([e2, e1])


SPEC = ComparisonSpec


def _ood_count(spec: ComparisonSpec) -> int:
    n_ood = round(spec.ood_fraction * spec.entities)
    if n_ood < 2:
        raise ConfigError("ood_fraction", f"{spec.ood_fraction} gives {n_ood} OOD entities; at least 2 are needed")
    return n_ood


def _mark_ood(spec: ComparisonSpec, n_ood: int, rng: np.random.Generator):
    """Per attribute, `n_ood` random entities are OOD. Returns the (entity, attribute) OOD mask and
    the unordered ID-ID and OOD-OOD pairs as (attribute, entity1, entity2) arrays."""
    ood = np.zeros((spec.entities, spec.attributes), dtype=bool)
    id_parts, ood_parts = [], []
    for a in range(spec.attributes):
        ood_entities = rng.choice(spec.entities, size=n_ood, replace=False)
        ood[ood_entities, a] = True
        id_entities = np.flatnonzero(~ood[:, a])
        id_parts.append((np.full(len(id_entities) * (len(id_entities) - 1) // 2, a), *_pairs(id_entities)))
        ood_parts.append((np.full(n_ood * (n_ood - 1) // 2, a), *_pairs(np.sort(ood_entities))))
    id_pairs = tuple(np.concatenate(p) for p in zip(*id_parts, strict=True))
    ood_pairs = tuple(np.concatenate(p) for p in zip(*ood_parts, strict=True))
    return ood, id_pairs, ood_pairs


def _hold_out_id_pairs(id_pairs, test_id_fraction: float, rng: np.random.Generator):
    """Training candidates and ID test, both as ordered pairs; routing is per unordered pair so that
    both orders of a pair land on the same side."""
    attr, e1, e2 = id_pairs
    held_out = rng.random(len(attr)) < test_id_fraction
    candidates = _both_orders(attr[~held_out], e1[~held_out], e2[~held_out])
    test_id = _both_orders(attr[held_out], e1[held_out], e2[held_out])
    return candidates, test_id


def _choose_inferred(phi: float, n_candidates: int, n_id_atomic: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of the candidates trained on: phi comparisons per ID atomic fact."""
    n_inferred = round(phi * n_id_atomic)
    if n_inferred > n_candidates:
        raise ConfigError(
            "phi",
            f"{phi} needs {n_inferred} comparisons but only {n_candidates} candidates exist; "
            f"allowed range is (0, {n_candidates / n_id_atomic:.3f}]",
        )
    return np.sort(rng.choice(n_candidates, size=n_inferred, replace=False))


def _atomic_frame(values: np.ndarray) -> pd.DataFrame:
    """One row per (entity, attribute), entity-major, so row k is `values.flat[k]`."""
    entities, attributes = values.shape
    ent, att = np.divmod(np.arange(entities * attributes), attributes)
    return pd.DataFrame(
        {
            "prompt": [f"{tokens.entity(e)} {tokens.attribute(a)}" for e, a in zip(ent, att, strict=True)],
            "answer": [tokens.value(v) for v in values[ent, att]],
            "kind": ATOMIC,
            "value1": None,
            "value2": None,
        }
    )


def generate(spec: ComparisonSpec) -> Dataset:
    rng = np.random.default_rng(spec.seed)
    values = rng.integers(0, spec.values, size=(spec.entities, spec.attributes))
    ood, id_pairs, ood_pairs = _mark_ood(spec, _ood_count(spec), rng)
    candidates, test_id = _hold_out_id_pairs(id_pairs, spec.test_id_fraction, rng)
    test_ood = _both_orders(*ood_pairs)

    n_id_atomic = int((~ood).sum())
    n_candidates = len(candidates[0])
    chosen = _choose_inferred(spec.phi, n_candidates, n_id_atomic, rng)
    inferred_train = _inferred_frame(*(c[chosen] for c in candidates), values)

    atomic = _atomic_frame(values)
    atomic_ood = ood.ravel()  # same entity-major order as the atomic rows
    train = pd.concat([atomic, inferred_train], ignore_index=True)
    limit = spec.max_eval_items
    eval_splits = {
        "atomic_id": sample_rows(atomic[~atomic_ood], limit, rng),
        "atomic_ood": sample_rows(atomic[atomic_ood], limit, rng),
        "train_inferred": sample_rows(inferred_train, limit, rng),
        "test_inferred_id": sample_rows(_inferred_frame(*test_id, values), limit, rng),
        "test_inferred_ood": sample_rows(_inferred_frame(*test_ood, values), limit, rng),
    }
    counts = {
        "atomic_facts": len(atomic),
        "atomic_id": n_id_atomic,
        "atomic_ood": int(atomic_ood.sum()),
        "comparison_candidates": n_candidates,
        "train_inferred": len(chosen),
        "test_inferred_id": len(test_id[0]),
        "test_inferred_ood": len(test_ood[0]),
        "train": len(train),
    }
    return Dataset(
        task="comparison",
        vocabulary=tokens.comparison_vocabulary(spec.entities, spec.attributes, spec.values),
        train=train,
        eval_splits=eval_splits,
        counts=counts,
        phi_achieved=len(chosen) / n_id_atomic,
        phi_max=n_candidates / n_id_atomic,
    )
