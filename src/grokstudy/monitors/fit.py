"""How well the network fits its training two-hop facts: accuracy and loss on the query sample.
No candidate of its own: the fit scales every detector, and these series are the nulls to beat."""

from __future__ import annotations

from grokstudy.batching import EncodedSplit, encode
from grokstudy.evaluation import evaluate_split
from grokstudy.monitors import sample


def prepare(inferred, tokenizer, settings: dict, device) -> EncodedSplit:
    return encode(sample.queries(inferred, settings), tokenizer).to(device)


def read(model, queries: EncodedSplit, settings: dict) -> list[tuple[str, str, float]]:
    scores = evaluate_split(model, queries)
    return [("train_accuracy", "train", scores["accuracy"]), ("train_loss", "train", scores["loss"])]
