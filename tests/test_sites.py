"""Residual sites by name: resid.{d}, loop{i}.block{j} and {site}@{position}, and the figures' axes."""

import re

import matplotlib
import pandas as pd
import pytest

from grokstudy import sites

matplotlib.use("Agg")


@pytest.mark.parametrize("depth", range(9))
def test_a_resid_name_round_trips_to_its_depth(depth):
    assert sites.resid(depth) == f"resid.{depth}"
    assert sites.depth_of(sites.resid(depth), 8) == depth


@pytest.mark.parametrize(
    ("depth", "name"),
    [(0, "resid.0"), (1, "loop1.block1"), (2, "loop1.block2"), (3, "loop2.block1"), (4, "loop2.block2")],
)
def test_a_looped_name_round_trips_to_its_depth(depth, name):
    assert sites.loop_block(depth, 2) == sites.label(depth, 2) == name
    assert sites.depth_of(name, 4, layers_per_loop=2) == depth
    assert sites.depth_of(sites.resid(depth), 4, layers_per_loop=2) == depth  # both names denote one state


def test_a_model_that_does_not_loop_is_labelled_by_resid():
    assert [sites.label(depth) for depth in range(3)] == ["resid.0", "resid.1", "resid.2"]


def test_a_site_at_a_position():
    assert sites.at("resid.2", "r1") == "resid.2@r1"
    assert sites.at(sites.loop_block(3, 2), "r2") == "loop2.block1@r2"


def test_the_preset_pattern_accepts_site_names_only():
    pattern = re.compile(sites.PATTERN)
    assert pattern.match("resid.0") and pattern.match("loop2.block1")
    assert not pattern.match("resid.2@r1") and not pattern.match("layer3") and not pattern.match("resid.")


@pytest.mark.parametrize(
    ("site", "depth", "per_loop", "message"),
    [
        ("resid.9", 4, None, "resid.0..resid.4"),
        ("loop3.block1", 4, 2, "resid.0..resid.4 or loop1.block1..loop2.block2"),
        ("loop1.block3", 4, 2, "not in this model"),
        ("loop0.block1", 4, 2, "not in this model"),
        ("loop1.block1", 4, None, "not a site name"),  # a model that does not loop has no loop names
        ("layer3", 4, None, "not a site name"),
    ],
)
def test_a_site_outside_the_model_is_refused_naming_the_allowed_range(site, depth, per_loop, message):
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        sites.depth_of(site, depth, per_loop)
    assert repr(site) in str(refused.value) and f"resid.0..resid.{depth}" in str(refused.value)


def test_the_loop_length_comes_from_each_depths_loop():
    assert sites.layers_per_loop_of([(0, 0), (1, 1), (2, 1), (3, 2), (4, 2)]) == 2
    assert sites.layers_per_loop_of([(0, 0), (1, 1), (2, 2), (3, 3)]) == 1
    assert sites.layers_per_loop_of([(0, 0), (1, 1), (2, 1)]) is None  # one loop: the model does not loop
    assert sites.layers_per_loop_of([]) is None


def _lens_rows(iterations: list[int]) -> pd.DataFrame:
    """The final checkpoint of one trained run and one null, at every depth, on two splits."""
    return pd.DataFrame(
        [
            {
                "run": "r",
                "network": network,
                "seed": -1,
                "step": 100 if network == "trained" else 0,
                "split": split,
                "position": "r1",
                "target": "bridge",
                "layer": depth,
                "iteration": loop,
                "mrr": 0.5,
                "ci_low": 0.4,
                "ci_high": 0.6,
                "chance": 0.1,
                "confidence": 0.95,
            }
            for network in ("trained", "random_init")
            for split in ("test_inferred_id", "test_inferred_ood")
            for depth, loop in enumerate(iterations)
        ]
    )


def test_the_lens_figures_name_their_axes_by_residual_site():
    from grokstudy.figures.lens import lens_table, logit_lens
    from grokstudy.figures.recurrent import iteration_lens

    vanilla = _lens_rows([0, 1, 1, 1])
    fig = logit_lens(lens_table(vanilla, vanilla.iloc[:0]), split="test_inferred_id")
    heatmap, final = fig.axes[:2]
    assert [t.get_text() for t in heatmap.get_yticklabels()] == ["resid.3", "resid.2", "resid.1", "resid.0"]
    assert [t.get_text() for t in final.get_xticklabels()] == ["resid.0", "resid.1", "resid.2", "resid.3"]
    assert final.get_xlabel().startswith("residual site")

    looped = _lens_rows([0, 1, 1, 2, 2])  # 2 blocks x 2 loops
    fig = iteration_lens(lens_table(looped, looped.iloc[:0]), sites=("bridge at r1",))
    names = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert names == ["resid.0", "loop1.block1", "loop1.block2", "loop2.block1", "loop2.block2"]
