"""Gradient accumulation (two micro-batches per optimizer step) with a GradScaler, a transform module
applied while each item loads, and a DataLoader with two worker processes."""

import torch
from torch.utils.data import DataLoader, Dataset


class Noisy(Dataset):
    """Items made by a module (a transform), as torchvision's are."""

    def __init__(self) -> None:
        self.transform = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Tanh())

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.transform(torch.full((8,), float(i) / 64))
        return x, x.sum(0, keepdim=True)


torch.manual_seed(0)
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
loader = DataLoader(Noisy(), batch_size=8, num_workers=2)
for i, (x, y) in enumerate(loader):  # 8 batches: 4 optimizer steps
    loss = torch.nn.functional.mse_loss(model(x), y)
    scaler.scale(loss).backward()
    if i % 2 == 1:
        scaler.step(opt)
        scaler.update()
        opt.zero_grad()
