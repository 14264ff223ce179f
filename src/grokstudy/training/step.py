"""One optimizer step, shared by the training loop and the benchmark.

The forward is `batching.logits_at`: transformers' public GPT-2 forward over every prompt
position, the answer position gathered per row, then the LM head. It is one public forward,
compiled or not, rather than a hand-made one that was faster eagerly: reaching into a model's
internals breaks on upgrades and cannot be captured by torch.compile, and compiling the public
forward gains more. The CPU default stays eager, because its fp32 steps are bit-reproducible.
The rates behind this choice: benchmarks/answer_forward.md and docs/benchmarks.md.

The step never reads a value back to the host: loss and accuracy come back as device tensors
that the loop sums and reads only at evaluation steps, so a GPU is never stalled by a sync.
"""

import torch
import torch.nn.functional as F

from grokstudy.batching import EncodedSplit, logits_at
from grokstudy.training.device import autocast


class AnswerLogits(torch.nn.Module):
    """`logits_at` as a module, so torch.compile captures the whole forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, answer_position: torch.Tensor) -> torch.Tensor:
        return logits_at(self.model, input_ids, answer_position)


class TrainStep:
    """Forward, answer-token loss, backward, clipping and AdamW; optionally through torch.compile.

    Compiling fuses the small kernels of this tiny model; it changes float rounding only.
    """

    def __init__(self, model, optimizer, grad_clip: float, device: torch.device, compile: bool = False):
        self.optimizer = optimizer
        self.grad_clip = grad_clip
        self.device = device
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        forward = AnswerLogits(model)
        self.forward = torch.compile(forward, dynamic=False) if compile else forward

    def __call__(self, batch: EncodedSplit, lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with autocast(self.device):
            logits = self.forward(batch.input_ids, batch.answer_position)
        loss = F.cross_entropy(logits.float(), batch.answer_id)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.parameters, self.grad_clip, foreach=True)
        self.optimizer.step()
        return loss.detach() * len(batch), (logits.detach().argmax(-1) == batch.answer_id).sum()
