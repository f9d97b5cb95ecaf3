"""Presets keep the seed's values; configs round-trip through JSON; the seed's command lines parse."""

from __future__ import annotations

import json

import pytest

from isoscope.core import config as C
from isoscope.core.cli import build_parser, config_from_args

SEED_HIGH = """impeller.stl --numLayers=10 --outputDir ../results/impeller/ --epochs 6 --batchSize 1024
 --learningRate 0.001 --num_points 5000000 --init he_uniform --damArch 1 --scaler StandardScaler
 --validationRes 0 --showVis 1 --reconstructionRes 256"""


def test_dam_widths_are_the_seeds():
    assert C.DAM_WIDTHS == (333, 442, 351, 340, 304, 139, 76, 53, 39, 36, 35)
    assert C.hidden_widths(C.ModelConfig(num_layers=10, dam_arch=True)) == [
        333,
        442,
        351,
        340,
        304,
        139,
        76,
        53,
        39,
        36,
    ]
    assert C.hidden_widths(C.ModelConfig(num_layers=3, dam_arch=True)) == [333, 442, 351]
    assert C.hidden_widths(C.ModelConfig(num_layers=2, width=17)) == [17, 17]


@pytest.mark.parametrize(
    "name,epochs,batch,points,scaler",
    [
        ("high", 6, 1024, 5_000_000, "StandardScaler"),
        ("medium", 3, 2048, 5_000_000, "QuantileTransformer"),
        ("low", 4, 1024, 2_000_000, "PowerTransformer"),
        ("ultra", 6, 512, 5_000_000, "none"),
        ("geometry200-medium", 3, 2048, 5_000_000, "QuantileTransformer"),
        ("geometry200-high", 6, 1024, 5_000_000, "none"),
        ("problematic", 6, 1024, 5_000_000, "StandardScaler"),
    ],
)
def test_seed_presets_exact(name, epochs, batch, points, scaler):
    cfg = C.preset(name)
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.sampling.num_points, cfg.train.scaler) == (
        epochs, batch, points, scaler,
    )  # fmt: skip
    assert cfg.model.num_layers == 10 and cfg.model.dam_arch and cfg.model.init == "he_uniform"
    assert cfg.train.learning_rate == 1e-3 and cfg.recon.resolution == 256 and cfg.train.validation_res == 0
    assert cfg.sampling.method == "importance" and cfg.sampling.pool_ratio == 0.1
    assert cfg.sampling.importance_weight == 60.0


def test_every_field_has_a_doc():
    for path, f, _ in C.iter_fields(C.RunConfig()):
        assert f.metadata.get("doc"), path


def test_json_round_trip():
    cfg = C.preset("medium")
    cfg.train.loss = "clamped"
    text = json.dumps(C.to_dict(cfg))
    back = C.from_dict(json.loads(text))
    assert back == cfg
    assert json.loads(text)["schema_version"] == C.SCHEMA_VERSION


def test_from_dict_rejects_unknown_and_bad_values():
    with pytest.raises(C.ConfigError, match="unknown config field train.nope"):
        C.from_dict({"train": {"nope": 1}})
    with pytest.raises(C.ConfigError, match="train.scaler must be one of"):
        C.from_dict({"train": {"scaler": "MinMax"}})
    with pytest.raises(C.ConfigError, match="unknown preset"):
        C.preset("fastest")


def test_seed_command_line_parses_to_the_high_preset():
    args = build_parser().parse_args(SEED_HIGH.split())
    cfg = config_from_args(args)
    high = C.preset("high")
    assert args.path == "impeller.stl" and args.output_dir == "../results/impeller/"
    assert cfg.model == high.model and cfg.sampling == high.sampling and cfg.recon == high.recon
    assert cfg.train.scaler == "StandardScaler" and cfg.train.batch_size == 1024 and cfg.show_vis == 1


def test_flags_override_preset_and_dotted_flags():
    args = build_parser().parse_args(
        ["p.stl", "--preset", "smoke", "--epochs", "2", "--train.loss", "l2", "--sampling.resample_every_epoch", "1",
         "--device", "cpu", "--sampleMethod", "surface"]
    )  # fmt: skip
    cfg = config_from_args(args)
    assert cfg.preset == "smoke" and cfg.train.epochs == 2 and cfg.train.loss == "l2"
    assert cfg.sampling.resample_every_epoch is True and cfg.device == "cpu" and cfg.sampling.method == "surface"
    assert cfg.model.width == 64


def test_bad_flag_values():
    for argv, msg in [
        (["p.stl", "--epochs", "two"], "cannot read 'two' as int"),
        (["p.stl", "--scaler", "Robust"], "train.scaler must be one of"),
        (["p.stl", "--batchSize", "0"], "train.batch_size must be positive"),
        (["p.stl", "--device", "tpu"], "device must be"),
        (["p.stl", "--numLayers", "12", "--damArch", "1"], "at most 11 layers"),
    ]:
        with pytest.raises(C.ConfigError, match=msg):
            config_from_args(build_parser().parse_args(argv))
