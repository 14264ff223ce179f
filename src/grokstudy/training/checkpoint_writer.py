"""Checkpoints written off the hot path: snapshot on the device, write from a background thread."""

import copy
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from grokstudy.training.checkpoints import CheckpointStore


class BackgroundCheckpointWriter:
    """The step loop pays only for a device-side copy of the weights and optimizer state.

    Moving the copy to the host, serializing, hashing and renaming happen in one worker thread
    while training goes on. At most one write is in flight, so memory stays bounded and
    checkpoints complete in step order; `wait` re-raises a write that failed.
    """

    def __init__(self, store: CheckpointStore):
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending: Future | None = None

    def submit(
        self, step: int, model, tokenizer, optimizer_state: dict[str, torch.Tensor], trainer_state: dict
    ) -> None:
        self.wait()
        snapshot = copy.deepcopy(model)
        # Clones, not views: the optimizer keeps updating its state in place while the write runs.
        frozen_state = {name: tensor.detach().clone() for name, tensor in optimizer_state.items()}
        self._pending = self._pool.submit(self.store.save, step, snapshot, tokenizer, frozen_state, trainer_state)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
