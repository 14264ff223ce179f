"""How the trained network and its nulls are labelled and drawn in every per-layer figure."""

NETWORK_LABELS = {
    "trained": "trained (final)",
    "step0": "step 0 (null)",
    "random_init": "random init (null)",
    "relation_prior": "relation-frequency prior (null)",
}
NULL_STYLES = {"step0": ("s", "black"), "random_init": ("x", "grey"), "relation_prior": ("^", "tab:brown")}
