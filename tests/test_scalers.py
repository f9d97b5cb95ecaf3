"""Target scalers: exact inverses, sensible fitted values, state round trips."""

from __future__ import annotations

import pytest
import torch

from isoscope.core.sdf.scalers import SCALERS, make_scaler, scaler_from_state, yeo_johnson, yeo_johnson_inverse


def _sdf_like(n: int = 200_000) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    near = torch.randn(n // 2, generator=g) * 0.02
    far = torch.rand(n // 2, generator=g) * 1.4 - 0.5
    return torch.cat([near, far])


@pytest.mark.parametrize("name", list(SCALERS))
def test_round_trip_is_exact(name):
    y = _sdf_like()
    s = make_scaler(name).fit(y)
    z = s.transform(y)
    assert torch.isfinite(z).all()
    back = s.inverse(z)
    assert torch.allclose(back, y, atol=1e-5), (back - y).abs().max()
    zero = s.inverse(s.transform(torch.zeros(1)))
    assert abs(float(zero)) < 1e-6  # the zero level survives the round trip


@pytest.mark.parametrize("name", list(SCALERS))
def test_state_dict_round_trip(name):
    y = _sdf_like(20_000)
    s = make_scaler(name).fit(y)
    t = scaler_from_state(s.state_dict())
    z = torch.linspace(-2, 2, 101)
    assert torch.allclose(s.transform(y), t.transform(y), atol=1e-6)
    assert torch.allclose(s.inverse(z), t.inverse(z), atol=1e-6)


def test_standard_and_quantile_outputs_are_standardised():
    y = _sdf_like()
    for name in ("StandardScaler", "QuantileTransformer", "PowerTransformer"):
        z = make_scaler(name).fit(y).transform(y)
        assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.1, name


def test_yeo_johnson_inverse_and_against_scipy():
    from scipy import stats

    y = _sdf_like(5000).double()
    for lmbda in (-1.5, 0.0, 0.7, 2.0, 3.1):
        assert torch.allclose(yeo_johnson_inverse(yeo_johnson(y, lmbda), lmbda), y, atol=1e-9)
        assert torch.allclose(yeo_johnson(y, lmbda), torch.from_numpy(stats.yeojohnson(y.numpy(), lmbda)), atol=1e-9)
    fitted = make_scaler("PowerTransformer").fit(y)
    _, scipy_lambda = stats.yeojohnson(y.numpy())
    assert fitted.lmbda == pytest.approx(scipy_lambda, abs=0.02)


def test_quantile_matches_normal_quantiles():
    y = torch.rand(100_000, generator=torch.Generator().manual_seed(3))
    z = make_scaler("QuantileTransformer").fit(y).transform(torch.tensor([0.5, 0.8413447]))
    assert z[0] == pytest.approx(0.0, abs=0.02) and z[1] == pytest.approx(1.0, abs=0.03)
