import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from grokstudy.data import store
from conftest import TINY_MODEL
from grokstudy.analyses.local import analyse
from grokstudy.analyses.logit_lens import SITES, layer_logits, reciprocal_ranks, site_queries
from grokstudy.analyses.queries import candidate_tokens
from grokstudy.models import depth
from grokstudy.stats import bootstrap_mean_ci, chance_mrr
from grokstudy.training.checkpoints import CheckpointStore

PROBES = {"null_seeds": [1, 2], "max_queries": 50, "bootstrap_resamples": 100, "confidence": 0.95}


def probe_run(run, task, run_dir, data_dir, probes):
    """The logit lens and the reloaded accuracy of every checkpoint of a run."""
    common = {"checkpoint_dir": run_dir / "checkpoints", "run_dir": run_dir}
    lens = analyse("logit_lens", run, task, data_dir, probes, **common)["logit_lens"]
    return lens, analyse("checkpoint_accuracy", run, task, data_dir, {}, **common)["checkpoint_accuracy"]


def probe_nulls(run, task, model_spec, data_dir, probes):
    return analyse("logit_lens", run, task, data_dir, probes, model_spec=model_spec)["null_logit_lens"]


def test_logit_lens_at_last_layer_equals_model_logits(trained_run):
    store_ = CheckpointStore(trained_run / "checkpoints")
    path = store_.path(store_.complete_steps()[-1])
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    ids = torch.tensor([tokenizer(p)["input_ids"] for p in ["<e_1> <r_2> <r_3>", "<e_5> <r_0> <r_9>"]])
    with torch.no_grad():
        lens = layer_logits(model, ids, position=2)
        direct = model(input_ids=ids).logits[:, 2]
    assert lens.shape[0] == depth(TINY_MODEL) + 1
    torch.testing.assert_close(lens[-1], direct, rtol=1e-5, atol=1e-5)
    # Earlier layers read different states: the lens is not trivially the output everywhere.
    assert not torch.allclose(lens[0], direct)


def test_reciprocal_rank_on_a_known_case():
    logits = torch.tensor([[[0.1, 3.0, 2.0, -1.0], [5.0, 0.0, 1.0, 2.0]]])  # one layer, two queries
    candidates = torch.tensor([1, 2, 3])
    rr = reciprocal_ranks(logits, candidates, torch.tensor([2, 3]))
    np.testing.assert_allclose(rr[0], [1 / 2, 1 / 1])  # token 2 is second; token 3 is first among candidates


def test_chance_mrr_matches_simulation():
    rng = np.random.default_rng(0)
    ranks = rng.integers(0, 50, size=200_000)
    assert chance_mrr(50) == pytest.approx(np.mean(1 / (1 + ranks)), rel=0.01)


def test_bootstrap_interval_brackets_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small, large = rng.random(30), rng.random(3000)
    lo, hi = bootstrap_mean_ci(small, 500, 0.95)
    assert lo < small.mean() < hi
    lo2, hi2 = bootstrap_mean_ci(large, 500, 0.95)
    assert (hi2 - lo2) < (hi - lo) / 3


def test_site_queries_are_unique_prefixes(composition_dir):
    frame = pd.read_parquet(composition_dir / "eval" / "train_inferred.parquet")
    r1 = site_queries(frame, SITES["composition"][0], limit=10_000, seed=0)
    assert r1["prompt"].is_unique and r1["prompt"].str.count(" ").eq(1).all()
    assert len(r1) < len(frame)


def test_probe_tables_against_nulls(composition_dir, trained_run):
    lens, accuracy = probe_run("tiny", "composition", trained_run, composition_dir, PROBES)
    assert set(lens["network"]) == {"trained", "step0"}
    assert (
        lens["mrr"].between(0, 1).all()
        and (lens["ci_low"] <= lens["mrr"]).all()
        and (lens["mrr"] <= lens["ci_high"]).all()
    )
    # Reloaded checkpoints reproduce the accuracies logged during training.
    np.testing.assert_allclose(accuracy["accuracy"], accuracy["accuracy_logged"], atol=1e-9)
    # Each row also holds the MRR of the two query halves: one selects a layer, the other tests it.
    n_select = lens["n"] - lens["n_test"]
    np.testing.assert_allclose(
        (lens["mrr_select"] * n_select + lens["mrr_test"] * lens["n_test"]) / lens["n"], lens["mrr"], atol=1e-6
    )  # fp32 means
    for half in ("select", "test"):
        assert (lens[f"ci_low_{half}"] <= lens[f"mrr_{half}"]).all()
        assert (lens[f"mrr_{half}"] <= lens[f"ci_high_{half}"]).all()
    # Each row names its residual state by depth and by site name.
    assert (lens["resid"] == "resid." + lens["layer"].astype(str)).all()
    all_nulls = probe_nulls("tiny", "composition", TINY_MODEL, composition_dir, PROBES)
    nulls = all_nulls[all_nulls["network"] == "random_init"]
    assert set(nulls["seed"]) == {1, 2} and set(nulls["position"]) == {"r1", "r2"}
    vocab = AutoTokenizer.from_pretrained(composition_dir / "tokenizer").get_vocab()
    chance = chance_mrr(len(candidate_tokens(list(vocab), "composition")))
    entity_sites = nulls[nulls["target"] != "r2"]  # the r2 token is ranked among the relations
    assert entity_sites["chance"].eq(chance).all()
    relations = candidate_tokens(list(vocab), "relation")
    assert nulls.loc[nulls["target"] == "r2", "chance"].eq(chance_mrr(len(relations))).all()
    # A random network decodes the bridge no better than a few times chance.
    assert entity_sites["mrr"].max() < 10 * chance
    # The relation-frequency prior knows which entities follow a relation: well above chance, the same at every layer.
    prior = all_nulls[all_nulls["network"] == "relation_prior"]
    assert (
        set(prior["resid"]) == {"resid.0", "resid.1", "resid.2"}
        and prior.groupby(["position", "split"])["mrr"].nunique().eq(1).all()
    )
    assert prior["mrr"].min() > 2 * chance


def test_per_query_lens_rows_name_each_state_by_depth_and_site():
    from grokstudy.analyses.logit_lens import _per_query_rows

    ranks = np.array([[1.0, 0.5], [0.25, 1.0]])  # 2 depths x 2 queries
    vocabulary = ranks / 4
    queries = pd.DataFrame({"prompt": ["a b", "c d"]})
    rows = _per_query_rows(ranks, vocabulary, SITES["composition"][0], "train_inferred", queries, run="r")
    assert list(rows["layer"]) == [0, 0, 1, 1] and list(rows["resid"]) == ["resid.0", "resid.0", "resid.1", "resid.1"]
    assert set(rows["site"]) == {"bridge at r1"} and set(rows["split"]) == {"train_inferred"}  # the probe site
    assert list(rows["rr"]) == [1.0, 0.5, 0.25, 1.0] and list(rows["rr_vocab"]) == [0.25, 0.125, 0.0625, 0.25]


def test_a_rank_over_the_whole_vocabulary_counts_every_token_above_the_target():
    from grokstudy.analyses.logit_lens import reciprocal_ranks

    logits = torch.tensor([[[0.0, 3.0, 1.0, 2.0], [5.0, 1.0, 0.0, 0.0]]])  # 1 layer x 2 queries x 4 tokens
    targets = torch.tensor([2, 0])
    among_two = reciprocal_ranks(logits, torch.tensor([0, 2]), targets)
    assert among_two.tolist() == [[1.0, 1.0]]  # token 2 beats token 0; token 0 beats token 2
    assert reciprocal_ranks(logits, None, targets).tolist() == [[pytest.approx(1 / 3), 1.0]]  # 1 and 3 beat 2


def test_the_per_query_lens_keeps_training_queries_for_c7_and_ood_answers_for_r4(composition_dir, trained_run):
    common = {"checkpoint_dir": trained_run / "checkpoints", "run_dir": trained_run}
    queries = analyse("logit_lens", "tiny", "composition", composition_dir, PROBES, **common)["logit_lens_queries"]
    kept = set(queries[["site", "split"]].itertuples(index=False, name=None))
    assert kept == {
        ("bridge at r1", "train_inferred"),
        ("r2 at r2", "train_inferred"),
        ("answer at r2", "test_inferred_ood"),
    }
    assert queries["rr_vocab"].between(0, 1).all() and (queries["rr_vocab"] <= queries["rr"]).all()


def test_the_relation_prior_ranks_by_tail_frequency(composition_dir):
    from grokstudy.data.baselines import most_frequent_tails, tail_counts

    train = store.read_train(composition_dir)
    counts = tail_counts(train)
    relation, tails = counts["relation"].iloc[0], counts[counts["relation"] == counts["relation"].iloc[0]]
    top = most_frequent_tails(train)[relation]
    assert tails.loc[tails["tail"] == top, "count"].iloc[0] == tails["count"].max()
    atomic = train[train["kind"] == "atomic"]
    assert counts["count"].sum() == len(atomic)


def test_comparison_probe_sites(comparison_dir):
    nulls = probe_nulls("cmp", "comparison", TINY_MODEL, comparison_dir, PROBES)
    assert set(nulls["position"]) == {"e1", "e2"} and set(nulls["target"]) == {"value1", "value2"}


def _traced(model, composition_dir, n=40, split="train_inferred"):
    """Queries of the tiny world with their alternatives, traced through `model`."""
    from grokstudy.analyses.causal_tracing import POSITIONS, atomic_facts, corrupted_prompts, trace, tracing_queries

    tokenizer = store.load_tokenizer(composition_dir)
    vocab = tokenizer.get_vocab()
    facts = atomic_facts(store.read_train(composition_dir))
    queries = tracing_queries(store.read_eval(composition_dir)[split], facts, list(vocab), limit=n, seed=3)

    def ids(prompts):
        return torch.tensor([[vocab[t] for t in p.split(" ")] for p in prompts])

    corrupt = {p: ids(corrupted_prompts(queries, p)) for p in POSITIONS}
    answers = torch.tensor([vocab[a] for a in queries["answer"]])
    return queries, trace(model.eval(), ids(queries["prompt"]), corrupt, answers)


def _final_model(trained_run):
    store_ = CheckpointStore(trained_run / "checkpoints")
    return AutoModelForCausalLM.from_pretrained(store_.path(store_.complete_steps()[-1])).eval()


def test_every_alternative_exists_in_the_training_facts_and_changes_the_answer(composition_dir):
    """Checked against the generated world's own facts: each alternative makes a query the training
    facts answer, and answer differently."""
    from grokstudy.analyses.causal_tracing import atomic_facts, tracing_queries

    train = store.read_train(composition_dir)
    atomic = train[train["kind"] == "atomic"]
    truth = {tuple(p.split(" ")): a for p, a in zip(atomic["prompt"], atomic["answer"], strict=True)}

    def answer(h, r1, r2):
        bridge = truth.get((h, r1))
        return None if bridge is None else truth.get((bridge, r2))

    frame = store.read_eval(composition_dir)["train_inferred"]
    queries = tracing_queries(
        frame, atomic_facts(train), list(store.load_tokenizer(composition_dir).get_vocab()), 300, 0
    )
    assert len(queries) == min(300, len(frame)) or len(queries) > 100
    for row in queries.itertuples():
        h, r1, r2 = row.prompt.split(" ")
        assert answer(h, r1, r2) == row.answer
        for query in ((row.alt_h, r1, r2), (h, row.alt_r1, r2), (h, r1, row.alt_r2)):
            assert answer(*query) not in (None, row.answer), (row.prompt, query)
        assert (row.alt_h, row.alt_r1, row.alt_r2) != (h, r1, r2)
    # The same seed gives the same queries and alternatives.
    again = tracing_queries(frame, atomic_facts(train), list(store.load_tokenizer(composition_dir).get_vocab()), 300, 0)
    pd.testing.assert_frame_equal(queries, again)


def test_causal_tracing_on_states_whose_effect_is_known(trained_run, composition_dir):
    queries, traced = _traced(_final_model(trained_run), composition_dir)
    layers = depth(TINY_MODEL)
    changed, drop = traced["changed"], traced["drop"]
    assert changed.shape == (layers + 1, 3, len(queries)) and drop.shape == changed.shape
    # The r2 state sits at the last position: patched at any layer it reproduces the whole r2
    # corruption (an implementation check, never a claim).
    for layer in range(layers + 1):
        np.testing.assert_array_equal(changed[layer, 2], changed[0, 2])
        np.testing.assert_allclose(drop[layer, 2], drop[0, 2], rtol=1e-5, atol=1e-6)
    # The last block's h and r1 states are read by nothing after them (causal attention reads the layer below).
    assert not changed[layers, 0].any() and not changed[layers, 1].any()
    np.testing.assert_allclose(drop[layers, :2], 0, atol=1e-6)
    # Replacing the token itself (layer 0) changes predictions: the alternatives change the answer.
    assert changed[0].mean() > 0


def test_a_prediction_that_reads_one_position_only_has_strength_there_only(composition_dir):
    """A hand-built case: with every attention output projection zeroed, the last position sees only its
    own token, so corrupting h or r1 can change nothing at any layer, and r2 changes what it changes."""
    from grokstudy.models import build_model

    model = build_model({**TINY_MODEL, "dropout": 0.0}, store.load_tokenizer(composition_dir), seed=5)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "attn.c_proj" in name:
                param.zero_()
    _, traced = _traced(model, composition_dir)
    assert not traced["changed"][:, :2].any() and np.abs(traced["drop"][:, :2]).max() < 1e-6
    assert traced["changed"][:, 2].any()


def test_strength_rows_report_the_fraction_changed_and_the_drop_with_intervals():
    from grokstudy.analyses.causal_tracing import strength_rows

    n = 200
    changed = np.zeros((2, 3, n), dtype=bool)
    changed[:, 2] = True  # r2: every prediction changes at every layer
    changed[1, 1, : n // 2] = True  # r1 at layer 1: half of them
    drop = changed * 0.5
    rows = pd.DataFrame(strength_rows({"changed": changed, "drop": drop, "p_clean": np.full(n, 0.9)}, 200, 0.95))
    at = rows.set_index(["layer", "position"])
    assert at.loc[(0, "h"), "strength"] == 0 and at.loc[(1, "r2"), "strength"] == 1
    half = at.loc[(1, "r1")]
    assert half["strength"] == pytest.approx(0.5) and half["ci_low"] < 0.5 < half["ci_high"]
    assert half["effect"] == pytest.approx(0.25) and half["total_strength"] == 0
    assert (rows["n"] == n).all() and list(at.loc[(slice(None), "r1"), "resid"]) == ["resid.0", "resid.1"]


def test_weight_norms_of_every_checkpoint_and_of_random_networks(composition_dir, trained_run):
    """The total norm is the root of the sum of squares of every parameter; untrained networks give the null band."""
    common = {"checkpoint_dir": trained_run / "checkpoints"}
    norms = analyse("weight_norms", "tiny", "composition", composition_dir, {}, **common)["weight_norms"]
    final = norms[norms["step"] == norms["step"].max()].set_index("module")
    assert list(final.index) == ["total", "embeddings", "block_1", "block_2", "final_norm", "unembedding"]
    store_ = CheckpointStore(trained_run / "checkpoints")
    model = AutoModelForCausalLM.from_pretrained(store_.path(store_.complete_steps()[-1]))
    total = sum(float(p.detach().pow(2).sum()) for p in model.parameters()) ** 0.5
    assert final.loc["total", "norm"] == pytest.approx(total, rel=1e-6)
    assert final.loc["total", "parameters"] == sum(p.numel() for p in model.parameters())
    # Tied head: the output head is the token embedding, inside the embeddings' norm.
    assert final.loc["unembedding", "norm"] <= final.loc["embeddings", "norm"]
    assert set(norms["network"]) == {"step0", "trained"} and norms["norm"].gt(0).all()
    nulls = analyse(
        "weight_norms", "tiny", "composition", composition_dir, {"null_seeds": [1, 2]}, model_spec=TINY_MODEL
    )
    nulls = nulls["null_weight_norms"]
    assert set(nulls["seed"]) == {1, 2} and set(nulls["network"]) == {"random_init"}
    # Weight decay and training move the norm away from its initial value.
    step0 = norms[(norms["step"] == 0) & (norms["module"] == "total")]["norm"].iloc[0]
    assert final.loc["total", "norm"] != pytest.approx(step0, rel=1e-3)
