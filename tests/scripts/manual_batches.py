"""No DataLoader: batches sliced by hand from tensors, SGD with momentum; exits with the status given."""

import sys

import torch

torch.manual_seed(0)
X = torch.randn(1024, 8)
Y = (X[:, :1] > 0).float()
model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for _epoch in range(2):
    for i in range(0, len(X), 128):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(X[i : i + 128]), Y[i : i + 128])
        opt.zero_grad()
        loss.backward()
        opt.step()
if len(sys.argv) > 1:
    if sys.argv[1] == "raise":
        raise ValueError("the data ran out")
    sys.exit(int(sys.argv[1]))
