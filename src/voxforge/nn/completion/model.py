"""A small 3D U-Net completing a partial 32³ scan: (partial, known-empty) in, occupancy logits out."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
    )


class CompletionUNet(nn.Module):
    """3D U-Net over a cubic grid (side divisible by 2^levels).

    Full resolution keeps few channels (its convolutions dominate the cost on a CPU); each of the
    three strided levels doubles the width. The input's observed cells are forced on at the output
    (``logits`` are raised where the partial is filled) in :meth:`complete`, not in training.
    """

    def __init__(self, widths: tuple[int, ...] = (8, 24, 48, 96), in_channels: int = 2) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.stem = _block(in_channels, widths[0])
        self.downs = nn.ModuleList()
        self.encs = nn.ModuleList()
        for cin, cout in itertools.pairwise(widths):
            self.downs.append(
                nn.Sequential(
                    nn.Conv3d(cin, cout, 2, stride=2, bias=False),
                    nn.BatchNorm3d(cout),
                    nn.ReLU(inplace=True),
                )
            )
            self.encs.append(_block(cout, cout))
        self.ups = nn.ModuleList()
        self.decs = nn.ModuleList()
        for cin, cout in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.ups.append(nn.ConvTranspose3d(cin, cout, 2, stride=2))
            self.decs.append(_block(2 * cout, cout))
        self.head = nn.Conv3d(widths[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, R, R, R) float -> (B, R, R, R) occupancy logits."""
        h = self.stem(x)
        skips = [h]
        for down, enc in zip(self.downs, self.encs, strict=True):
            h = enc(down(h))
            skips.append(h)
        skips.pop()
        for up, dec in zip(self.ups, self.decs, strict=True):
            h = dec(torch.cat([up(h), skips.pop()], dim=1))
        return self.head(h)[:, 0]


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
