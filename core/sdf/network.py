"""The ReLU MLP that fits a signed distance function, and its initialisation.

The output layer is linear (no tanh), so it reaches every scaled target, whatever the scaler.
"""

from __future__ import annotations

import torch
from torch import nn

from isoscope.core.config import ModelConfig, forward_macs, hidden_widths


class SDFNet(nn.Module):
    """x (N, 3) -> scaled signed distance (N,)."""

    def __init__(self, widths: list[int], init: str = "he_uniform") -> None:
        super().__init__()
        self.widths = list(widths)
        layers: list[nn.Module] = []
        fan_in = 3
        for w in self.widths:
            layers += [nn.Linear(fan_in, w), nn.ReLU(inplace=True)]
            fan_in = w
        layers.append(nn.Linear(fan_in, 1))
        self.net = nn.Sequential(*layers)
        self.reset_parameters(init)

    def reset_parameters(self, init: str) -> None:
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        for i, lin in enumerate(linears):
            last = i == len(linears) - 1
            if init == "he_uniform" and not last:
                nn.init.kaiming_uniform_(lin.weight, nonlinearity="relu")
            else:
                nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)

    def flops_per_sample(self) -> int:
        """Multiply-adds x2 of one forward pass."""
        return 2 * forward_macs(self.widths)


def build_model(cfg: ModelConfig) -> SDFNet:
    return SDFNet(hidden_widths(cfg), cfg.init)
