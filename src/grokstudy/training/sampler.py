"""Batches drawn from per-epoch permutations that depend only on (seed, epoch).

Being a pure function of the step, the data order needs no saved state: a resumed
run draws exactly the batches an uninterrupted one would.
"""

import torch


class EpochSampler:
    def __init__(self, n_examples: int, batch_size: int, seed: int, device: torch.device | str = "cpu"):
        self.n = n_examples
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self._cache: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cache = {k: v for k, v in self._cache.items() if k >= epoch - 1}
            self._cache[epoch] = torch.randperm(self.n, generator=generator).to(self.device)
        return self._cache[epoch]

    def indices(self, step: int) -> torch.Tensor:
        positions = torch.arange(step * self.batch_size, (step + 1) * self.batch_size)
        epochs, offsets = positions // self.n, positions % self.n
        parts = [self._permutation(int(e))[offsets[epochs == e].to(self.device)] for e in torch.unique(epochs)]
        return torch.cat(parts)
