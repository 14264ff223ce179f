"""The settings of each task's world, and the largest phi each allows.

Kept free of numpy and pandas: the workflow checks every preset against these bounds each time
Snakemake parses it, before any job runs.
"""

from dataclasses import dataclass

# The two kinds of fact in every training split: one-hop facts and the facts they imply.
ATOMIC, INFERRED = "atomic", "inferred"
# The evaluation splits every dataset writes, in this order (the workflow names their files).
EVAL_SPLITS = ("atomic_id", "atomic_ood", "train_inferred", "test_inferred_id", "test_inferred_ood")


@dataclass(frozen=True)
class CompositionSpec:
    entities: int
    relations: int
    out_degree: int
    ood_fraction: float
    test_id_fraction: float
    phi: float
    max_eval_items: int
    seed: int
    # "shuffled": the training two-hop facts' tails are permuted among themselves; None: true labels.
    inferred_labels: str | None = None


@dataclass(frozen=True)
class ComparisonSpec:
    entities: int
    attributes: int
    values: int
    ood_fraction: float
    test_id_fraction: float
    phi: float
    max_eval_items: int
    seed: int


def composition_phi_max(spec: CompositionSpec) -> float:
    """The expected largest phi the candidates allow, for validating a config before generating."""
    id_share = 1.0 - spec.ood_fraction
    return id_share * (1.0 - spec.test_id_fraction) * spec.out_degree


def comparison_phi_max(spec: ComparisonSpec) -> float:
    n_id = round((1 - spec.ood_fraction) * spec.entities)
    return (1 - spec.test_id_fraction) * n_id * (n_id - 1) / n_id


def generator_module(task: str) -> str:
    """The module that generates a task's worlds (`generate` and its `SPEC`): grokstudy.data.<task>."""
    return f"{__package__}.{task}"
