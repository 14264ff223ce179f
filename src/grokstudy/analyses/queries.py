"""What the analyses ask the model about: the splits they read and the candidate tokens."""

from grokstudy.data.tokens import entity, relation, value

PROBE_SPLITS = ("train_inferred", "test_inferred_id", "test_inferred_ood")
# A token kind and how its tokens begin (<e_0>, <r_0>, <v_0>).
TOKEN_KINDS = {
    kind: spell(0).removesuffix("0>") for kind, spell in (("entity", entity), ("relation", relation), ("value", value))
}
# What a task's answers are.
ANSWER_KIND = {"composition": "entity", "comparison": "value"}


def candidate_tokens(vocabulary: list[str], kind: str) -> list[str]:
    """Every token of one kind (entity, relation or value), or of a task's answers (composition, comparison)."""
    prefix = TOKEN_KINDS[ANSWER_KIND.get(kind, kind)]
    return [t for t in vocabulary if t.startswith(prefix)]
