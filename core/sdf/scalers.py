"""Scalers for the SDF targets, on the device, with exact inverses and a state dict for the checkpoint.

none, StandardScaler, PowerTransformer (Yeo-Johnson, then standardised, as scikit-learn does) and
QuantileTransformer (normal output). Each is fitted once on the training targets; ``inverse`` undoes
``transform`` exactly (up to float rounding), so the zero level of the network maps back correctly.
"""

from __future__ import annotations

import math

import torch

_FIT_SUBSAMPLE = 1_000_000


class Scaler:
    """Identity; the base class of the others."""

    name = "none"

    def fit(self, y: torch.Tensor) -> Scaler:
        return self

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def state_dict(self) -> dict:
        return {"name": self.name}

    def load_state_dict(self, state: dict) -> Scaler:
        return self

    def to(self, device: torch.device | str) -> Scaler:
        for key, value in vars(self).items():
            if isinstance(value, torch.Tensor):
                setattr(self, key, value.to(device))
        return self


def _subsample(y: torch.Tensor, seed: int = 0) -> torch.Tensor:
    y = y.reshape(-1).double()
    if y.numel() <= _FIT_SUBSAMPLE:
        return y
    g = torch.Generator(device=y.device).manual_seed(seed)
    return y[torch.randint(0, y.numel(), (_FIT_SUBSAMPLE,), device=y.device, generator=g)]


class StandardScaler(Scaler):
    name = "StandardScaler"

    def fit(self, y: torch.Tensor) -> Scaler:
        y = y.reshape(-1).double()
        self.mean = y.mean()
        self.std = y.std().clamp_min(1e-12)
        return self

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        return ((y - self.mean) / self.std).to(y.dtype)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return (z * self.std + self.mean).to(z.dtype)

    def state_dict(self) -> dict:
        return {"name": self.name, "mean": float(self.mean), "std": float(self.std)}

    def load_state_dict(self, state: dict) -> Scaler:
        self.mean = torch.tensor(state["mean"], dtype=torch.float64)
        self.std = torch.tensor(state["std"], dtype=torch.float64)
        return self


def yeo_johnson(y: torch.Tensor, lmbda: float) -> torch.Tensor:
    pos = y >= 0
    out = torch.empty_like(y)
    yp, yn = y[pos], y[~pos]
    out[pos] = torch.log1p(yp) if abs(lmbda) < 1e-8 else (torch.pow(yp + 1, lmbda) - 1) / lmbda
    out[~pos] = -torch.log1p(-yn) if abs(lmbda - 2) < 1e-8 else -(torch.pow(1 - yn, 2 - lmbda) - 1) / (2 - lmbda)
    return out


def yeo_johnson_inverse(x: torch.Tensor, lmbda: float) -> torch.Tensor:
    pos = x >= 0
    out = torch.empty_like(x)
    xp, xn = x[pos], x[~pos]
    out[pos] = torch.expm1(xp) if abs(lmbda) < 1e-8 else torch.pow(xp * lmbda + 1, 1 / lmbda) - 1
    if abs(lmbda - 2) < 1e-8:
        out[~pos] = -torch.expm1(-xn)
    else:
        out[~pos] = 1 - torch.pow(-(2 - lmbda) * xn + 1, 1 / (2 - lmbda))
    return out


class PowerTransformer(Scaler):
    """Yeo-Johnson with the maximum-likelihood lambda (Brent-style golden search), then standardised."""

    name = "PowerTransformer"

    def fit(self, y: torch.Tensor) -> Scaler:
        y = _subsample(y)
        n = y.numel()
        log_term = (torch.sign(y) * torch.log1p(y.abs())).sum()

        def neg_llf(lmbda: float) -> float:
            t = yeo_johnson(y, lmbda)
            var = t.var(unbiased=False).clamp_min(1e-300)
            return float(n / 2 * torch.log(var) - (lmbda - 1) * log_term)

        lo, hi = -2.0, 4.0
        g = (math.sqrt(5) - 1) / 2
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        fa, fb = neg_llf(a), neg_llf(b)
        for _ in range(60):
            if fa < fb:
                hi, b, fb = b, a, fa
                a = hi - g * (hi - lo)
                fa = neg_llf(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + g * (hi - lo)
                fb = neg_llf(b)
        self.lmbda = 0.5 * (lo + hi)
        t = yeo_johnson(y, self.lmbda)
        self.mean = t.mean()
        self.std = t.std().clamp_min(1e-12)
        return self

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        t = yeo_johnson(y.double(), self.lmbda)
        return ((t - self.mean) / self.std).to(y.dtype)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        t = z.double() * self.std + self.mean
        # Outputs beyond the transform's range (possible for a network) are clamped to its edge.
        if self.lmbda < 0:
            t = t.clamp_max(-1 / self.lmbda - 1e-9)
        if self.lmbda > 2:
            t = t.clamp_min(-1 / (self.lmbda - 2) + 1e-9)
        return yeo_johnson_inverse(t, self.lmbda).to(z.dtype)

    def state_dict(self) -> dict:
        return {"name": self.name, "lambda": self.lmbda, "mean": float(self.mean), "std": float(self.std)}

    def load_state_dict(self, state: dict) -> Scaler:
        self.lmbda = float(state["lambda"])
        self.mean = torch.tensor(state["mean"], dtype=torch.float64)
        self.std = torch.tensor(state["std"], dtype=torch.float64)
        return self


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """np.interp on the device: piecewise-linear, clamped at the ends; xp strictly increasing."""
    x = x.clamp(xp[0], xp[-1])
    i = torch.searchsorted(xp, x.contiguous()).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    return f0 + (x - x0) * (f1 - f0) / (x1 - x0)


class QuantileTransformer(Scaler):
    """Maps targets through their empirical quantiles to a standard normal (clipped as scikit-learn)."""

    name = "QuantileTransformer"
    n_quantiles = 1000
    _clip = 1e-7

    def fit(self, y: torch.Tensor) -> Scaler:
        y = _subsample(y)
        refs = torch.linspace(0, 1, self.n_quantiles, dtype=torch.float64, device=y.device)
        q = torch.quantile(y, refs)
        # Strictly increasing knots keep the map invertible even where targets repeat.
        span = float(q[-1] - q[0]) or 1.0
        q = torch.cummax(q + torch.arange(q.numel(), device=q.device, dtype=q.dtype) * span * 1e-9, 0).values
        self.quantiles, self.references = q, refs
        return self

    def transform(self, y: torch.Tensor) -> torch.Tensor:
        u = _interp(y.double(), self.quantiles, self.references).clamp(self._clip, 1 - self._clip)
        return (math.sqrt(2) * torch.special.erfinv(2 * u - 1)).to(y.dtype)

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        u = 0.5 * (1 + torch.erf(z.double() / math.sqrt(2)))
        return _interp(u, self.references, self.quantiles).to(z.dtype)

    def state_dict(self) -> dict:
        return {"name": self.name, "quantiles": self.quantiles.cpu().tolist()}

    def load_state_dict(self, state: dict) -> Scaler:
        self.quantiles = torch.tensor(state["quantiles"], dtype=torch.float64)
        self.references = torch.linspace(0, 1, self.quantiles.numel(), dtype=torch.float64)
        return self


SCALERS: dict[str, type[Scaler]] = {
    cls.name: cls for cls in (Scaler, StandardScaler, PowerTransformer, QuantileTransformer)
}


def make_scaler(name: str) -> Scaler:
    return SCALERS[name]()


def scaler_from_state(state: dict) -> Scaler:
    return SCALERS[state["name"]]().load_state_dict(state)
