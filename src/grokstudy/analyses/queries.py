"""What the analyses ask the model about: the splits they read and the candidate answer tokens."""

from grokstudy.data.tokens import entity, value

PROBE_SPLITS = ("train_inferred", "test_inferred_id", "test_inferred_ood")


def candidate_tokens(vocabulary: list[str], task: str) -> list[str]:
    """What the task's answers can be: every entity (composition) or value (comparison) token."""
    prefix = (entity if task == "composition" else value)(0).removesuffix("0>")
    return [t for t in vocabulary if t.startswith(prefix)]
