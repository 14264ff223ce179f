import hashlib

import numpy as np
import pandas as pd
import pytest

from grokstudy.data import baselines, comparison, composition, store
from grokstudy.errors import ConfigError
from tests.conftest import TINY_COMPARISON, TINY_COMPOSITION


def _spec(cls, params, **changes):
    merged = {**params, **changes}
    return cls(**{k: v for k, v in merged.items() if k != "task"})


@pytest.fixture(scope="module")
def world():
    spec = _spec(composition.CompositionSpec, TINY_COMPOSITION)
    rng = np.random.default_rng(spec.seed)
    facts = composition.sample_atomic_facts(spec, rng)
    return spec, facts, composition.generate(spec)


def test_atomic_facts_have_distinct_relations_per_head(world):
    spec, facts, _ = world
    per_head = facts.relations.reshape(spec.entities, spec.out_degree)
    assert all(len(set(row)) == spec.out_degree for row in per_head)
    assert len(facts.heads) == spec.entities * spec.out_degree
    assert facts.is_ood.sum() == round(spec.ood_fraction * len(facts.heads))


def test_counts_and_phi(world):
    spec, _, data = world
    c = data.counts
    assert c["atomic_id"] + c["atomic_ood"] == c["atomic_facts"] == spec.entities * spec.out_degree
    assert c["train_inferred"] == round(spec.phi * c["atomic_id"])
    assert data.phi_achieved == pytest.approx(spec.phi, abs=1 / c["atomic_id"])
    assert c["two_hop_total"] == c["atomic_facts"] * spec.out_degree
    assert c["train"] == c["atomic_facts"] + c["train_inferred"]
    assert len(data.train) == c["train"]
    assert all(len(f) <= spec.max_eval_items for f in data.eval_splits.values())


def _atomic_lookup(train: pd.DataFrame) -> dict:
    atomic = train[train["kind"] == "atomic"]
    return dict(zip(atomic["prompt"], atomic["answer"], strict=True))


def test_ood_routing_both_hops_ood_and_no_test_fact_in_training(world):
    _, _, data = world
    lookup = _atomic_lookup(data.train)
    ood_atomic = set(data.eval_splits["atomic_ood"]["prompt"])
    assert ood_atomic <= set(lookup), "OOD atomic facts must be trained as atomic facts"
    train_two_hop = set(data.train.loc[data.train["kind"] == "inferred", "prompt"])

    def hops(prompt, bridge):
        h, r1, r2 = prompt.split(" ")
        return f"{h} {r1}", f"{bridge} {r2}"

    for split, both_ood in (("test_inferred_ood", True), ("test_inferred_id", False)):
        frame = data.eval_splits[split]
        assert len(frame) > 0
        assert not set(frame["prompt"]) & train_two_hop, f"{split} leaks into training"
        for prompt, bridge, answer in zip(frame["prompt"], frame["bridge"], frame["answer"], strict=True):
            first, second = hops(prompt, bridge)
            assert lookup[first] == bridge and lookup[second] == answer
            assert (first in ood_atomic) == both_ood and (second in ood_atomic) == both_ood

    # No training two-hop fact touches an OOD atomic fact.
    for prompt, bridge in data.train.loc[data.train["kind"] == "inferred", ["prompt", "bridge"]].itertuples(
        index=False
    ):
        first, second = hops(prompt, bridge)
        assert first not in ood_atomic and second not in ood_atomic


def test_generation_is_deterministic(tmp_path):
    paths = []
    for name in ("a", "b"):
        store.write(store.generate(TINY_COMPOSITION), TINY_COMPOSITION, tmp_path / name)
        paths.append(tmp_path / name)
    for relative in ("train.parquet", "eval/test_inferred_id.parquet", "tokenizer/tokenizer.json"):
        digests = {hashlib.sha256((p / relative).read_bytes()).hexdigest() for p in paths}
        assert len(digests) == 1, relative
    other = store.generate({**TINY_COMPOSITION, "seed": 1})
    assert not other.train.equals(store.generate(TINY_COMPOSITION).train)


def test_shuffled_labels_permute_only_the_training_two_hop_tails(world):
    _, _, true = world
    shuffled = composition.generate(_spec(composition.CompositionSpec, TINY_COMPOSITION, inferred_labels="shuffled"))
    is_inferred = true.train["kind"] == "inferred"
    assert shuffled.train.loc[~is_inferred].equals(true.train.loc[~is_inferred])
    for column in ("prompt", "bridge", "kind"):
        assert shuffled.train[column].equals(true.train[column]), column
    for split in ("atomic_id", "atomic_ood", "test_inferred_id", "test_inferred_ood"):
        assert shuffled.eval_splits[split].equals(true.eval_splits[split]), split
    assert shuffled.counts == true.counts

    true_tails = true.train.loc[is_inferred, "answer"]
    shuffled_tails = shuffled.train.loc[is_inferred, "answer"]
    assert sorted(shuffled_tails) == sorted(true_tails)
    assert (shuffled_tails != true_tails).mean() > 0.8
    labels = dict(zip(shuffled.train["prompt"], shuffled.train["answer"], strict=True))
    evaluated = shuffled.eval_splits["train_inferred"]
    assert evaluated["prompt"].equals(true.eval_splits["train_inferred"]["prompt"])
    assert list(evaluated["answer"]) == [labels[p] for p in evaluated["prompt"]]
    again = composition.generate(_spec(composition.CompositionSpec, TINY_COMPOSITION, inferred_labels="shuffled"))
    assert again.train.equals(shuffled.train)


def test_impossible_phi_is_rejected_naming_the_key():
    with pytest.raises(ConfigError, match=r"'phi'.*allowed range"):
        composition.generate(_spec(composition.CompositionSpec, TINY_COMPOSITION, phi=50.0))
    with pytest.raises(ConfigError, match=r"'phi'.*allowed range"):
        comparison.generate(_spec(comparison.ComparisonSpec, TINY_COMPARISON, phi=500.0))


def test_empty_ood_split_is_rejected():
    with pytest.raises(ConfigError, match="ood_fraction"):
        composition.generate(_spec(composition.CompositionSpec, TINY_COMPOSITION, ood_fraction=0.001))
    with pytest.raises(ConfigError, match="ood_fraction"):
        comparison.generate(_spec(comparison.ComparisonSpec, TINY_COMPARISON, ood_fraction=0.01))


def test_comparison_labels_routing_and_phi():
    data = comparison.generate(_spec(comparison.ComparisonSpec, TINY_COMPARISON))
    values = _atomic_lookup(data.train)
    ood_keys = set(data.eval_splits["atomic_ood"]["prompt"])
    train_pairs = set(data.train.loc[data.train["kind"] == "inferred", "prompt"])
    for split, both_ood in (("test_inferred_id", False), ("test_inferred_ood", True), ("train_inferred", False)):
        frame = data.eval_splits[split]
        assert len(frame) > 0
        for prompt, answer in zip(frame["prompt"], frame["answer"], strict=True):
            attr, q, e1, mask, e2 = prompt.split(" ")
            assert (q, mask) == ("<q>", "<mask>") and e1 != e2
            v1, v2 = (int(values[f"{e} {attr}"][3:-1]) for e in (e1, e2))
            assert answer == ("<lt>" if v1 < v2 else "<eq>" if v1 == v2 else "<gt>")
            assert (f"{e1} {attr}" in ood_keys) == both_ood and (f"{e2} {attr}" in ood_keys) == both_ood
            if split != "train_inferred":
                assert prompt not in train_pairs
    assert data.counts["train_inferred"] == round(TINY_COMPARISON["phi"] * data.counts["atomic_id"])


def test_baselines_name_the_items_they_answer_right(world):
    spec, _, data = world
    result = baselines.composition(data.train, data.eval_splits, spec.entities)
    top = baselines.most_frequent_tails(data.train)
    for split, entry in result["splits"].items():
        frame = data.eval_splits[split]
        right = frame.loc[frame["prompt"].str.split(" ").str[2].map(top) == frame["answer"], "prompt"]
        assert entry["correct_prompts"] == sorted(right) and entry["correct"] == len(right) > 0
        assert entry["n"] == len(frame)
    labels = comparison.generate(_spec(comparison.ComparisonSpec, TINY_COMPARISON))
    for split, entry in baselines.comparison(labels.eval_splits)["splits"].items():
        answers = labels.eval_splits[split].set_index("prompt")["answer"]
        assert len(entry["correct_prompts"]) == entry["correct"]
        assert answers.loc[entry["correct_prompts"]].nunique() <= 1  # all the majority label
