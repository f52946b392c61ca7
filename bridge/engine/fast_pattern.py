"""MusicGen's codebook delay pattern, as plain functions over a token grid.

Codebook k runs k steps behind codebook 0, so one decoding step predicts frame t of codebook
0, frame t-1 of codebook 1, and so on. transformers keeps a grid of shape (batch * codebooks,
length) and a pattern of the same shape: -1 where the model's token is kept, otherwise the
value forced there (the pad token before a codebook starts and after it ends, or a prefix
code). These functions build that pattern exactly as ``MusicgenForCausalLM.
build_delay_pattern_mask`` does (including its quirk for very short grids) and undo it the way
``MusicgenForConditionalGeneration.generate`` does, so our decode loop yields the same codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

KEEP = -1  # pattern value: the model's token stays


@dataclass(frozen=True)
class DelayPattern:
    """The forced values of a whole generation and where decoding starts.

    ``pattern``: (batch * codebooks, length), KEEP where the model decides.
    ``start_ids``: (batch * codebooks, start), the columns fed before the first prediction.
    Decoding produces columns ``start .. length - 1``, one per step.
    """

    pattern: torch.Tensor
    start_ids: torch.Tensor

    @property
    def length(self) -> int:
        return int(self.pattern.shape[-1])

    @property
    def start(self) -> int:
        return int(self.start_ids.shape[-1])

    @property
    def steps(self) -> int:
        return self.length - self.start


def codebook_delays(num_codebooks: int, audio_channels: int = 1) -> list[int]:
    """Delay of each codebook; stereo models interleave left/right codebooks, pairs share one."""
    if audio_channels == 2:
        return [k // 2 for k in range(num_codebooks)]
    return list(range(num_codebooks))


def build_pattern(input_ids: torch.Tensor, num_codebooks: int, pad: int, length: int,
                  audio_channels: int = 1) -> DelayPattern:
    """The pattern for a grid of ``length`` columns that starts with ``input_ids``.

    ``input_ids``: (batch * codebooks, seq) undelayed decoder input, the start token first and
    any prefix codes after it. ``length`` = seq + max_new_tokens, as generate computes it.
    """
    ids = input_ids.reshape(-1, num_codebooks, input_ids.shape[-1])
    batch, _, seq = ids.shape
    delays = codebook_delays(num_codebooks, audio_channels)
    channel_codebooks = max(delays) + 1
    device = ids.device
    if length < 2 * channel_codebooks - 1:
        # transformers applies no pattern at all to grids this short: every column the model
        # predicts is kept and the input is fed undelayed. Kept here for identical output.
        pattern = torch.full((batch * num_codebooks, length), KEEP, dtype=torch.long,
                             device=device)
        return DelayPattern(pattern=pattern, start_ids=ids.reshape(batch * num_codebooks, seq))
    shifted = torch.full((batch, num_codebooks, length), KEEP, dtype=torch.long, device=device)
    for k, delay in enumerate(delays):
        shifted[:, k, delay:seq + delay] = ids[:, k]
    column = torch.arange(length, device=device)
    delay_t = torch.tensor(delays, device=device)[:, None]
    # Pad before a codebook's first frame (columns 0..delay) and after its last one.
    forced = (column[None, :] <= delay_t) | (column[None, :] >= length - channel_codebooks + 1
                                             + delay_t)
    pattern = torch.where(forced[None], torch.full_like(shifted, pad), shifted)
    first_open = (pattern[:, 0, :] == KEEP).nonzero()[:, 1]
    start = int(first_open.min()) if len(first_open) else seq
    pattern = pattern.reshape(batch * num_codebooks, length)
    return DelayPattern(pattern=pattern, start_ids=pattern[:, :start].clone())


def apply_pattern(tokens: torch.Tensor, pattern_column: torch.Tensor) -> torch.Tensor:
    """Tokens of one column with the forced values put back."""
    return torch.where(pattern_column == KEEP, tokens, pattern_column)


def undo_pattern(grid: torch.Tensor, batch: int, num_codebooks: int, pad: int) -> torch.Tensor:
    """Codes (batch, codebooks, frames) from a finished grid, as generate does: drop every pad
    (the delay's start and end padding, and the start token)."""
    return grid[grid != pad].reshape(batch, num_codebooks, -1)
