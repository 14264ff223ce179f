"""What running GPT-2's last block at the answer position only is worth on a CPU training step.

Compares, per training step (forward, answer-token loss, backward, clipping, AdamW) in CPU
process time with one torch thread, on the default preset's shapes:

  answer-only   the trunk up to the last block through transformers, then the last block
                recomposed by hand at the answer position only (the training forward this
                study used until it moved to public APIs; it reads GPT-2's attention
                internals, so it is kept here for the measurement alone)
  public        `model.base_model` over every position, the answer position gathered per
                row, then `model.get_output_embeddings()` (the training forward now)
  public-logits `model(input_ids=...)` logits at every position, then gathered
  compiled      `public` as a module through torch.compile

Variants run interleaved, round after round, so drift in machine load hits all of them alike.
Usage: .venv/bin/python benchmarks/answer_forward.py [--rounds 5] [--steps 20]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from transformers import AutoTokenizer

from grokstudy.batching import encode
from grokstudy.data import store
from grokstudy.models import build_model
from grokstudy.training.optim import build_optimizer
from grokstudy.training.sampler import EpochSampler

ROOT = Path(__file__).resolve().parents[1]
TASKS = {"composition": "comp_phi7.2_wd0.5", "comparison": "cmp_phi7.2_wd0.5"}


class _LastBlockInput(Exception):
    def __init__(self, hidden):
        super().__init__("last block reached")
        self.hidden = hidden


def _stop_at_block(module, args, kwargs):
    raise _LastBlockInput(args[0] if args else kwargs["hidden_states"])


def answer_only_logits(model, input_ids, position):
    """The old forward: GPT-2 internals (c_attn, split_size, ...) and a hook that stops the trunk."""
    trunk, block = model.transformer, model.transformer.h[-1]
    handle = block.register_forward_pre_hook(_stop_at_block, with_kwargs=True)
    try:
        trunk(input_ids=input_ids, use_cache=False)
    except _LastBlockInput as stop:
        hidden = stop.hidden
    finally:
        handle.remove()
    attn, (rows, width) = block.attn, hidden.shape[:2]
    heads, head_dim, index = attn.num_heads, attn.head_dim, torch.arange(rows)
    query, key, value = attn.c_attn(block.ln_1(hidden)).split(attn.split_size, dim=2)
    query = query[index, position].view(rows, heads, 1, head_dim)
    key = key.view(rows, width, heads, head_dim).transpose(1, 2)
    value = value.view(rows, width, heads, head_dim).transpose(1, 2)
    visible = (torch.arange(width) <= position[:, None]).view(rows, 1, 1, width)
    mixed = F.scaled_dot_product_attention(query, key, value, attn_mask=visible, scale=attn.scaling)
    residual = hidden[index, position] + attn.c_proj(mixed.reshape(rows, heads * head_dim))
    out = residual + block.mlp(block.ln_2(residual))
    return model.lm_head(trunk.ln_f(out))


def public_logits(model, input_ids, position):
    hidden = model.base_model(input_ids=input_ids, use_cache=False).last_hidden_state
    return model.get_output_embeddings()(hidden[torch.arange(len(position)), position])


def public_full_logits(model, input_ids, position):
    logits = model(input_ids=input_ids, use_cache=False).logits
    return logits[torch.arange(len(position)), position]


class PublicForward(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position):
        return public_logits(self.model, input_ids, position)


def forwards(model) -> dict:
    return {
        "answer-only": lambda ids, pos: answer_only_logits(model, ids, pos),
        "public": lambda ids, pos: public_logits(model, ids, pos),
        "public-logits": lambda ids, pos: public_full_logits(model, ids, pos),
        "compiled": torch.compile(PublicForward(model), dynamic=False),
    }


def train_step(forward, model, optimizer, batch) -> None:
    loss = F.cross_entropy(forward(batch.input_ids, batch.answer_position), batch.answer_id)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
    optimizer.step()


def seconds_per_step(forward, model, optimizer, batches) -> float:
    start = time.process_time()
    for batch in batches:
        train_step(forward, model, optimizer, batch)
    return (time.process_time() - start) / len(batches)


def prepare(task: str, preset: dict, data_dir: Path):
    run = {**preset["run_defaults"], **preset["runs"][TASKS[task]]}
    dataset = preset["datasets"][run["dataset"]]
    store.write(store.generate(dataset), dataset, data_dir)
    tokenizer = AutoTokenizer.from_pretrained(data_dir / store.TOKENIZER_DIR)
    data = encode(store.read_train(data_dir), tokenizer)
    model = build_model(preset["models"][run["model"]], tokenizer, seed=0).train()
    sampler = EpochSampler(len(data), run["batch_size"], seed=0)
    return model, build_optimizer(model, run), data, sampler, len(tokenizer)


def measure(task: str, preset: dict, rounds: int, steps: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        model, optimizer, data, sampler, vocab = prepare(task, preset, Path(tmp))
    batches = [data.select(sampler.indices(i)) for i in range(steps)]
    width = tuple(data.input_ids.shape[1:])
    print(f"{task}: {len(data)} train prompts, width {width}, vocab {vocab}, batch {len(batches[0])}")
    variants = forwards(model)
    for forward in variants.values():  # warm-up, and compilation out of the timed rounds
        seconds_per_step(forward, model, optimizer, batches[:3])
    times = {name: [] for name in variants}
    for _ in range(rounds):
        for name, forward in variants.items():
            times[name].append(seconds_per_step(forward, model, optimizer, batches))
    return times


def report(task: str, times: dict[str, list[float]]) -> None:
    base = statistics.median(times["public"])
    for name, values in times.items():
        median = statistics.median(values)
        spread = ", ".join(f"{1e3 * v:.1f}" for v in values)
        print(f"| {task} | {name} | {1e3 * median:.1f} | {median / base:.3f} | {spread} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    preset = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    results = {task: measure(task, preset, args.rounds, args.steps) for task in TASKS}
    print("| task | forward | ms/step (median) | vs public | rounds (ms/step) |\n|---|---|---|---|---|")
    for task, times in results.items():
        report(task, times)


if __name__ == "__main__":
    main()
