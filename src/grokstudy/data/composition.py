"""Two-hop composition over a random knowledge graph (docs/study.md §1).

Each head has `out_degree` distinct relations with uniform tails. A random
fraction of atomic facts is OOD: those facts are trained only as atomic facts.
Two-hop facts with both hops ID are training candidates (a small fraction is
held out as ID test); both hops OOD form the OOD test; mixed ones are dropped.
With inferred_labels "shuffled" the training two-hop facts' tails are permuted
among themselves (train_inferred evaluates those labels; the test splits keep the
true ones): a model can memorize them but has no rule to learn.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grokstudy.data import tokens
from grokstudy.data.dataset import Dataset, sample_rows
from grokstudy.data.specs import ATOMIC, INFERRED, CompositionSpec
from grokstudy.errors import ConfigError

# Second word of the seed of the label-shuffling stream, apart from the world's own stream.
SHUFFLE_STREAM = 1


@dataclass
class AtomicFacts:
    heads: np.ndarray
    relations: np.ndarray
    tails: np.ndarray
    is_ood: np.ndarray


SPEC = CompositionSpec


def sample_atomic_facts(spec: CompositionSpec, rng: np.random.Generator) -> AtomicFacts:
    """Facts sorted by head: fact h * out_degree + k is the k-th fact of head h."""
    n = spec.entities * spec.out_degree
    relations = np.stack(
        [rng.choice(spec.relations, size=spec.out_degree, replace=False) for _ in range(spec.entities)]
    ).reshape(-1)
    tails = rng.integers(0, spec.entities, size=n)
    heads = np.repeat(np.arange(spec.entities), spec.out_degree)
    is_ood = np.zeros(n, dtype=bool)
    is_ood[rng.choice(n, size=round(spec.ood_fraction * n), replace=False)] = True
    return AtomicFacts(heads, relations, tails, is_ood)


def enumerate_two_hop(facts: AtomicFacts, out_degree: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (first hop, second hop) for every two-hop path h -r1-> b -r2-> t."""
    first = np.repeat(np.arange(len(facts.heads)), out_degree)
    second = (facts.tails[first] * out_degree) + np.tile(np.arange(out_degree), len(facts.heads))
    return first, second


def _atomic_frame(facts: AtomicFacts, index: np.ndarray) -> pd.DataFrame:
    h, r, t = facts.heads[index], facts.relations[index], facts.tails[index]
    return pd.DataFrame(
        {
            "prompt": [f"{tokens.entity(a)} {tokens.relation(b)}" for a, b in zip(h, r, strict=True)],
            "answer": [tokens.entity(x) for x in t],
            "kind": ATOMIC,
            "bridge": None,
        }
    )


def _two_hop_frame(
    facts: AtomicFacts, first: np.ndarray, second: np.ndarray, tails: np.ndarray | None = None
) -> pd.DataFrame:
    """The two-hop facts (first[i], second[i]); `tails` replaces their true tails when given."""
    h, r1, b = facts.heads[first], facts.relations[first], facts.tails[first]
    r2 = facts.relations[second]
    t = facts.tails[second] if tails is None else tails
    return pd.DataFrame(
        {
            "prompt": [
                f"{tokens.entity(a)} {tokens.relation(x)} {tokens.relation(y)}"
                for a, x, y in zip(h, r1, r2, strict=True)
            ],
            "answer": [tokens.entity(x) for x in t],
            "kind": INFERRED,
            "bridge": [tokens.entity(x) for x in b],
        }
    )


def _training_two_hop(spec: CompositionSpec, facts: AtomicFacts, first: np.ndarray, second: np.ndarray):
    """The training two-hop facts, their tails permuted among themselves when spec asks for shuffled labels.

    The permutation draws from its own stream seeded by (seed, SHUFFLE_STREAM), so the world's
    stream, and with it every other fact and split, is the one the unshuffled world draws.
    """
    if spec.inferred_labels is None:
        return _two_hop_frame(facts, first, second)
    if spec.inferred_labels != "shuffled":
        raise ConfigError("inferred_labels", f"{spec.inferred_labels!r}; allowed: 'shuffled' or left out")
    tails = facts.tails[second]
    permuted = tails[np.random.default_rng([spec.seed, SHUFFLE_STREAM]).permutation(len(tails))]
    return _two_hop_frame(facts, first, second, permuted)


def generate(spec: CompositionSpec) -> Dataset:
    rng = np.random.default_rng(spec.seed)
    facts = sample_atomic_facts(spec, rng)
    first, second = enumerate_two_hop(facts, spec.out_degree)

    ood_first, ood_second = facts.is_ood[first], facts.is_ood[second]
    both_id = np.flatnonzero(~ood_first & ~ood_second)
    both_ood = np.flatnonzero(ood_first & ood_second)
    held_out = rng.random(len(both_id)) < spec.test_id_fraction
    candidates, test_id = both_id[~held_out], both_id[held_out]

    n_id_atomic = int((~facts.is_ood).sum())
    n_inferred = round(spec.phi * n_id_atomic)
    achievable = len(candidates) / n_id_atomic
    if n_inferred > len(candidates):
        raise ConfigError(
            "phi",
            f"{spec.phi} needs {n_inferred} two-hop facts but only {len(candidates)} candidates exist; "
            f"allowed range is (0, {achievable:.3f}] for this world",
        )
    if len(both_ood) == 0:
        raise ConfigError("ood_fraction", f"{spec.ood_fraction} leaves the OOD two-hop test split empty; raise it")
    train_inferred = np.sort(rng.choice(candidates, size=n_inferred, replace=False))

    atomic = _atomic_frame(facts, np.arange(len(facts.heads)))
    inferred_train = _training_two_hop(spec, facts, first[train_inferred], second[train_inferred])
    train = pd.concat([atomic, inferred_train], ignore_index=True)

    limit = spec.max_eval_items
    eval_splits = {
        "atomic_id": sample_rows(atomic[~facts.is_ood], limit, rng),
        "atomic_ood": sample_rows(atomic[facts.is_ood], limit, rng),
        "train_inferred": sample_rows(inferred_train, limit, rng),
        "test_inferred_id": sample_rows(_two_hop_frame(facts, first[test_id], second[test_id]), limit, rng),
        "test_inferred_ood": sample_rows(_two_hop_frame(facts, first[both_ood], second[both_ood]), limit, rng),
    }
    counts = {
        "atomic_facts": len(facts.heads),
        "atomic_id": n_id_atomic,
        "atomic_ood": int(facts.is_ood.sum()),
        "two_hop_total": len(first),
        "two_hop_candidates": len(candidates),
        "two_hop_dropped_mixed": int((ood_first ^ ood_second).sum()),
        "train_inferred": n_inferred,
        "test_inferred_id": len(test_id),
        "test_inferred_ood": len(both_ood),
        "train": len(train),
    }
    return Dataset(
        task="composition",
        vocabulary=tokens.composition_vocabulary(spec.entities, spec.relations),
        train=train,
        eval_splits=eval_splits,
        counts=counts,
        phi_achieved=n_inferred / n_id_atomic,
        phi_max=achievable,
    )
