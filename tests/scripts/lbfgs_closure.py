"""LBFGS with a closure: forward and backward run inside optimizer.step(closure), several times a step."""

import torch

torch.manual_seed(0)
x = torch.linspace(-1, 1, 200)[:, None]
y = torch.sin(3 * x)
model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
opt = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=4)


def closure():
    opt.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    return loss


for _ in range(6):
    opt.step(closure)
