"""Causal tracing's two variants: the released code's pools, query choice and count, and version 3's."""

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY_MODEL
from grokstudy.analyses import causal_tracing as ct
from grokstudy.analyses.local import analyse
from grokstudy.data import store
from grokstudy.models import build_model, depth

PROBES = {"null_seeds": [1], "max_queries": 30, "bootstrap_resamples": 50, "confidence": 0.95}

# A hand-made world. Two-hop training facts, each "h r1 r2 -> t"; their hops are the hop facts.
INFERRED = [
    ("a r1 r2", "t"),  # the traced query: bridge b
    ("a r3 r2", "u"),  # bridge c: c has no hop relation but r2, whose tail is u, so its r2' pool is empty
    ("a r4 r2", "t"),  # a r4 -> b too: r4 leads to t, never an r1'
    ("a r5 r6", "x"),  # a r5 -> d, and d has no r2 fact: r5 is an r1' of "a r1 r2"
    ("a r1 r9", "y"),  # b r9 -> y: an r2'
    ("a r1 r8", "t"),  # b r8 -> t: never an r2'
    ("e r1 r2", "t"),  # e's only hop relation leads to t: its r1' pool is empty
    ("f r1 r2", "u"),  # f r1 -> c: the same, with answer u
]
ATOMIC_FACTS = [
    ("a r1", "b"), ("b r2", "t"), ("a r3", "c"), ("c r2", "u"), ("a r4", "b"), ("a r5", "d"), ("d r6", "x"),
    ("b r9", "y"), ("b r8", "t"), ("e r1", "b"), ("f r1", "c"),
    ("a r7", "c"), ("b r10", "z"), ("g r1", "c"),  # atomic facts that are no hop of a two-hop fact
]  # fmt: skip


def _world():
    train = pd.DataFrame(
        [{"kind": "atomic", "prompt": p, "answer": a} for p, a in ATOMIC_FACTS]
        + [{"kind": "inferred", "prompt": p, "answer": a} for p, a in INFERRED]
    )
    facts = ct.atomic_facts(train)
    return train, facts, ct.hop_facts(train, facts)


def test_the_released_pools_come_from_the_hop_facts_on_a_hand_made_world():
    _, facts, hops = _world()
    assert list(hops) == ["a", "b", "c", "d", "e", "f"]  # g heads no hop fact
    assert hops["a"] == {"r1": "b", "r3": "c", "r4": "b", "r5": "d"} and hops["b"] == {"r2": "t", "r8": "t", "r9": "y"}
    pools = ct.hop_alternatives("a r1 r2", "t", facts, hops)
    # h': b, c, d have no (., r1) fact (no answer); f r1 r2 -> u; a and e answer t; g is no hop head.
    # r1': r3 (c r2 -> u), r5 (d has no r2); not r1, r4 (-> b -> t), nor r7 (no hop).
    # r2': r9 (-> y); not r2, r8 (-> t), nor r10 (no hop).
    assert pools == {"h": ["b", "c", "d", "f"], "r1": ["r3", "r5"], "r2": ["r9"]}
    assert ct.hop_alternatives("a r3 r2", "u", facts, hops) == {
        "h": ["b", "c", "d", "e", "f"],
        "r1": ["r1", "r4", "r5"],
        "r2": [],
    }
    assert ct.hop_alternatives("e r1 r2", "t", facts, hops)["r1"] == []
    # Version 3 draws from every atomic fact and asks for a defined answer other than t.
    v3 = ct.alternatives("a r1 r2", "t", facts, list("abcdefg"), [f"r{i}" for i in range(1, 11)])
    assert v3 == {"h": ["f", "g"], "r1": ["r3", "r7"], "r2": ["r9", "r10"]}


def test_released_queries_skip_an_empty_r1_pool_and_leave_an_empty_pool_untraced():
    train, facts, hops = _world()
    frame = train[train["kind"] == "inferred"][["prompt", "answer"]].reset_index(drop=True)
    queries = ct.released_queries(frame, facts, hops, limit=100, seed=0).set_index("prompt")
    # The only hop relation of e, and of f, leads to the query's own answer: no r1', so skipped.
    assert "e r1 r2" not in queries.index and "f r1 r2" not in queries.index
    assert queries.loc["a r1 r2", "alt_r2"] == "r9" and queries.loc["a r1 r2", "alt_r1"] in ("r3", "r5")
    assert pd.isna(queries.loc["a r3 r2", "alt_r2"]) and queries.loc["a r3 r2", "alt_h"] in list("bcdef")
    for prompt, row in queries.iterrows():
        pools = ct.hop_alternatives(prompt, row["answer"], facts, hops)
        assert all(row[f"alt_{p}"] in pools[p] or (pd.isna(row[f"alt_{p}"]) and not pools[p]) for p in ct.POSITIONS)
    assert len(ct.released_queries(frame, facts, hops, limit=1, seed=0)) == 1


def test_the_released_alternative_is_fixed_by_the_query_alone(composition_dir):
    train, frame = store.read_train(composition_dir), store.read_eval(composition_dir)["train_inferred"]
    facts = ct.atomic_facts(train)
    hops = ct.hop_facts(train, facts)
    queries = ct.released_queries(frame, facts, hops, limit=300, seed=0)
    assert len(queries) > 50 and queries[ct.ALTERNATIVE_COLUMNS].notna().all().all()
    pd.testing.assert_frame_equal(queries, ct.released_queries(frame, facts, hops, limit=300, seed=0))
    # Another order of the queries, a smaller limit: each query keeps its alternatives.
    reordered = ct.released_queries(frame.iloc[::-1], facts, hops, limit=300, seed=7).set_index("prompt")
    fewer = ct.released_queries(frame, facts, hops, limit=20, seed=0).set_index("prompt")
    by_prompt = queries.set_index("prompt")
    pd.testing.assert_frame_equal(reordered.loc[by_prompt.index], by_prompt)
    pd.testing.assert_frame_equal(by_prompt.loc[fewer.index], fewer)
    # The draws vary across queries (a seed per query, not one shared draw).
    assert queries["alt_h"].nunique() > 5


def _one_position_model(tokenizer):
    """With every attention output projection zeroed, the last position sees only its own token."""
    model = build_model({**TINY_MODEL, "dropout": 0.0}, tokenizer, seed=5).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "attn.c_proj" in name:
                param.zero_()
    return model


def test_the_released_count_is_whether_the_answer_left_the_top_1(composition_dir):
    """On a model that reads the r2 token only: patching h or r1 changes nothing, so the answer is
    counted as no longer top-1 exactly where it never was; v3 counts nothing there. At r2 the count is
    the corrupted run's own top-1 against t, at every layer."""
    tokenizer = store.load_tokenizer(composition_dir)
    vocab, model = tokenizer.get_vocab(), _one_position_model(tokenizer)
    prepared = ct.variant_queries(store.read_train(composition_dir), store.read_eval(composition_dir), list(vocab), 40)
    frame = prepared["released"]["train_inferred"].copy()

    def top1(prompts):
        ids = torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts])
        with torch.no_grad():
            return model(input_ids=ids).logits[:, -1].argmax(-1).numpy()

    names = {i: t for t, i in vocab.items()}
    clean_top = top1(frame["prompt"])
    stays = np.arange(len(frame)) % 2 == 0  # half the answers made the clean top-1, half another token
    frame["answer"] = [
        names[int(c)] if keep else names[int((c + 1) % len(vocab))] for c, keep in zip(clean_top, stays, strict=True)
    ]
    both = {v: {"train_inferred": frame} for v in ct.VARIANTS}
    _, per_query = ct.trace_model(model, tokenizer, both, PROBES)
    layers = range(depth(TINY_MODEL) + 1)
    released = per_query[per_query["variant"] == "released"]
    for position in ("h", "r1"):
        rows = released[released["position"] == position]
        for layer in layers:
            np.testing.assert_array_equal(rows[f"changed_{layer}"], ~stays)
    corrupted_top = top1(ct.corrupted_prompts(frame, "r2"))
    r2 = released[released["position"] == "r2"]
    for layer in layers:
        np.testing.assert_array_equal(r2[f"changed_{layer}"], corrupted_top != frame["answer"].map(vocab).to_numpy())
    v3 = per_query[(per_query["variant"] == "v3") & (per_query["position"] != "r2")]
    assert not v3[[f"changed_{layer}" for layer in layers]].to_numpy().any()


def test_an_untraced_position_has_no_rows_and_the_strength_averages_the_traced_queries(composition_dir):
    tokenizer = store.load_tokenizer(composition_dir)
    model = build_model(TINY_MODEL, tokenizer, seed=3).eval()
    frame = ct.variant_queries(
        store.read_train(composition_dir), store.read_eval(composition_dir), list(tokenizer.get_vocab()), 30
    )["released"]["train_inferred"]
    frame.loc[frame.index[::3], "alt_h"] = None
    frame.loc[:, "alt_r2"] = None
    rows, per_query = ct.trace_model(model, tokenizer, {"released": {"train_inferred": frame}}, PROBES)
    rows = pd.DataFrame(rows)
    assert set(rows["position"]) == {"h", "r1"} and set(per_query["position"]) == {"h", "r1"}
    h = per_query[per_query["position"] == "h"]
    assert len(h) == len(frame) - len(frame.index[::3]) and h["alternative"].notna().all()
    at_h = rows[rows["position"] == "h"].set_index("layer")
    assert (at_h["n"] == len(h)).all()
    for layer in at_h.index:
        assert at_h.loc[layer, "strength"] == pytest.approx(h[f"changed_{layer}"].mean())
        assert at_h.loc[layer, "p_clean"] == pytest.approx(h["p_clean"].mean())
    assert (rows.loc[rows["position"] == "r1", "n"] == len(frame)).all()


def test_at_the_embeddings_each_variant_counts_what_replacing_the_token_does(composition_dir):
    """Patching resid.0 at a position replaces that token: v3 counts a top-1 other than the clean
    one, the released variant a top-1 other than t, each read off the corrupted run itself."""
    tokenizer = store.load_tokenizer(composition_dir)
    vocab = tokenizer.get_vocab()
    model = build_model(TINY_MODEL, tokenizer, seed=3).eval()
    prepared = ct.variant_queries(store.read_train(composition_dir), store.read_eval(composition_dir), list(vocab), 40)

    def top1(prompts):
        ids = torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts])
        with torch.no_grad():
            return model(input_ids=ids).logits[:, -1].argmax(-1).numpy()

    _, per_query = ct.trace_model(model, tokenizer, prepared, PROBES)
    for variant, frame in ((v, prepared[v]["train_inferred"]) for v in ct.VARIANTS):
        for position in ("h", "r1", "r2"):
            rows = per_query[
                (per_query["variant"] == variant)
                & (per_query["split"] == "train_inferred")
                & (per_query["position"] == position)
            ]
            traced = frame[frame["prompt"].isin(rows["prompt"])].set_index("prompt").loc[rows["prompt"]].reset_index()
            corrupted = top1(ct.corrupted_prompts(traced, position))
            reference = top1(traced["prompt"]) if variant == "v3" else traced["answer"].map(vocab).to_numpy()
            np.testing.assert_array_equal(rows["changed_0"].to_numpy().astype(bool), corrupted != reference)


def test_both_variants_run_in_every_network(composition_dir, trained_run):
    checkpoints = analyse("causal_tracing", "tiny", "composition", composition_dir, PROBES, trained_run / "checkpoints")
    null = analyse("causal_tracing", "tiny", "composition", composition_dir, PROBES, model_spec=TINY_MODEL)
    tables = [*checkpoints.values(), *null.values()]
    for table in tables:
        assert table.groupby("network")["variant"].apply(set).map(frozenset).eq(frozenset(ct.VARIANTS)).all()
    assert set(checkpoints["causal_tracing"]["network"]) == {"step0", "trained"}
    assert set(null["null_causal_tracing"]["network"]) == {"random_init"}
