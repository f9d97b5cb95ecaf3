"""A torch.compile'd model trained from a DataLoader (the aot_eager backend: no C++ compiler needed)."""

import torch
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
X = torch.randn(256, 8)
loader = DataLoader(TensorDataset(X, X.sum(1, keepdim=True)), batch_size=32)
model = torch.compile(
    torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)), backend="aot_eager"
)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for _epoch in range(2):
    for xb, yb in loader:
        loss = torch.nn.functional.mse_loss(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
