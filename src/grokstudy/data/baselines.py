"""What a model scores without two-hop reasoning: the baselines every accuracy is read against.

- composition, relation frequency: answer (h, r1, r2) with the tail that r2 leads to most often
  among the training's atomic facts; it knows r2 and nothing of h or the bridge;
- comparison, majority label: always answer the split's most frequent label;
- uniform chance over the answers a query can have.

Per evaluation split, baselines.json holds the baseline's name, `correct` of `n` items, and
`correct_prompts`: the sorted prompts it answers right.
"""

import pandas as pd

from grokstudy.data import tokens
from grokstudy.data.specs import ATOMIC

RELATION_FREQUENCY, MAJORITY_LABEL = "relation_frequency", "majority_label"
INFERRED_SPLITS = ("train_inferred", "test_inferred_id", "test_inferred_ood")


def tail_counts(train: pd.DataFrame) -> pd.DataFrame:
    """(relation, tail, count) over the atomic training facts of a composition world."""
    atomic = train[train["kind"] == ATOMIC]
    relation = atomic["prompt"].str.split(" ").str[1]
    return pd.DataFrame({"relation": relation, "tail": atomic["answer"]}).value_counts().rename("count").reset_index()


def most_frequent_tails(train: pd.DataFrame) -> dict[str, str]:
    """Per relation, its most frequent tail; ties go to the first in token order, so the choice is fixed."""
    ranked = tail_counts(train).sort_values(["relation", "count", "tail"], ascending=[True, False, True])
    return ranked.drop_duplicates("relation").set_index("relation")["tail"].to_dict()


def _share(prompts: pd.Series, correct: pd.Series) -> dict:
    """How many of a split's items the baseline answers right, and which: paired tests compare a model
    with its baseline item by item."""
    return {
        "correct": int(correct.sum()),
        "n": len(correct),
        "correct_prompts": sorted(prompts[correct.to_numpy(bool)].tolist()),
    }


def composition(train: pd.DataFrame, eval_splits: dict[str, pd.DataFrame], entities: int) -> dict:
    top = most_frequent_tails(train)
    splits = {}
    for split in INFERRED_SPLITS:
        frame = eval_splits[split]
        second_relation = frame["prompt"].str.split(" ").str[2]
        splits[split] = {
            "name": RELATION_FREQUENCY,
            **_share(frame["prompt"], second_relation.map(top) == frame["answer"]),
        }
    return {"uniform": 1 / entities, "splits": splits}


def comparison(eval_splits: dict[str, pd.DataFrame]) -> dict:
    splits = {}
    for split in INFERRED_SPLITS:
        frame = eval_splits[split]
        majority = frame["answer"].value_counts().idxmax() if len(frame) else None
        splits[split] = {"name": MAJORITY_LABEL, **_share(frame["prompt"], frame["answer"] == majority)}
    return {"uniform": 1 / len(tokens.LABELS), "splits": splits}


def compute(task: str, train: pd.DataFrame, eval_splits: dict[str, pd.DataFrame], params: dict) -> dict:
    if task == "composition":
        return {"task": task, **composition(train, eval_splits, params["entities"])}
    return {"task": task, **comparison(eval_splits)}


def accuracy(entry: dict) -> float:
    return entry["correct"] / entry["n"] if entry["n"] else float("nan")
