"""Experiment configuration: dict round trip, overrides and their types, validation, presets."""

import dataclasses
import json

import pytest

from fpalib.errors import FpaError
from fpalib.train.config import (
    ExperimentConfig,
    apply_overrides,
    config_differences,
    config_keys,
    from_dict,
    load_config_file,
    parse_config_args,
    save_config_file,
    to_dict,
    with_image_size,
)
from fpalib.train.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_validates_and_round_trips_through_json(name):
    cfg = get_preset(name)
    assert cfg.validate() is cfg
    text = json.dumps(to_dict(cfg))
    assert from_dict(json.loads(text)) == cfg


def test_paper_preset_holds_the_papers_celeba_setting():
    cfg = get_preset("paper-celeba64")
    painter = cfg.painter
    assert (painter.num_steps, painter.image_size, painter.latent_dim, painter.hidden, painter.layers) == (64, 64, 512, 1024, 1)
    assert (painter.input_version, painter.input_tanh, painter.input_dim, painter.input_proj_dim) == ("v2", True, 8, 128)
    assert painter.latent_to_init and painter.out_tanh and painter.key_norm == "softmax" and painter.rule == "delta"
    assert (cfg.optim.lr, cfg.optim.betas, cfg.optim.batch_size) == (2e-4, (0.5, 0.9), 20)
    assert (cfg.ema.decay, cfg.ema.start_step, cfg.ema.update_every) == (0.995, 20_000, 10)
    assert (cfg.ema.reset_every, cfg.ema.reset_until) == (1_000, 25_000)
    assert (cfg.loss.gp_every, cfg.loss.gp_weight) == (4, 10.0)
    assert (cfg.loop.steps, cfg.loop.eval_every) == (450_000, 5_000)
    assert get_preset("paper-celeba64-lightgan").generator == "lightgan"


def test_presets_are_fresh_copies():
    get_preset("smoke").painter.hidden = 999
    assert get_preset("smoke").painter.hidden != 999


def test_unknown_preset_lists_the_names():
    with pytest.raises(FpaError, match="unknown preset 'nope'.*emoji32-cpu.*smoke"):
        get_preset("nope")


def test_overrides_coerce_to_the_field_types_without_touching_the_input():
    cfg = get_preset("smoke")
    new = apply_overrides(
        cfg,
        [
            "painter.hidden=24", "optim.lr=1e-3", "optim.betas=0.0, 0.99", "data.hflip=true",
            "painter.input_tanh=False", "loop.max_minutes=2.5", "name=demo", "painter.image_width=16",
            "loop.steps=450_000", "eval.metrics=swd,pr",
        ],
    )
    assert (new.painter.hidden, new.optim.lr, new.optim.betas) == (24, 1e-3, (0.0, 0.99))
    assert new.data.hflip is True and new.painter.input_tanh is False
    assert (new.loop.max_minutes, new.name, new.painter.image_width, new.loop.steps) == (2.5, "demo", 16, 450_000)
    assert new.eval.metrics == ("swd", "pr") and cfg == get_preset("smoke")
    cleared = apply_overrides(new, ["loop.max_minutes=null", "painter.image_width=null", "eval.metrics="])
    assert (cleared.loop.max_minutes, cleared.painter.image_width, cleared.eval.metrics) == (None, None, ())


def test_command_line_arguments_take_both_spellings_and_brackets():
    cfg = parse_config_args(["--painter.hidden", "1024", "--optim.betas", "0.5,0.8", "--loop.amp", "false",
                             "--eval.metrics=[fid,kid]", "--loop.max_minutes=null"], base=get_preset("smoke"))
    assert (cfg.painter.hidden, cfg.optim.betas, cfg.loop.amp, cfg.eval.metrics) == (1024, (0.5, 0.8), False, ("fid", "kid"))
    assert cfg.loop.max_minutes is None and cfg.name == "smoke"


def test_none_as_older_versions_wrote_it_is_null_for_optional_fields_only():
    cfg = parse_config_args(["--loop.out", "none", "--eval.real_path=None", "--painter.image_width", "none",
                             "--painter.key_norm", "none"], base=get_preset("smoke"))
    assert (cfg.loop.out, cfg.eval.real_path, cfg.painter.image_width) == (None, None, None)
    assert cfg.painter.key_norm == "none"  # a choice named "none", not a missing value


def test_unknown_override_key_suggests_close_matches():
    with pytest.raises(FpaError, match=r"unknown config key 'painter\.hiden'.*painter\.hidden"):
        apply_overrides(get_preset("smoke"), ["painter.hiden=3"])
    with pytest.raises(FpaError, match="unknown config key 'paintr.hidden'.*painter.hidden"):
        apply_overrides(get_preset("smoke"), ["paintr.hidden=3"])
    with pytest.raises(FpaError, match=r"unknown config key 'loop\.zzz'; did you mean: loop\."):
        parse_config_args(["--loop.zzz", "1"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("painter.hidden=abc", "'painter.hidden': Expected a <class 'int'>. Got value: abc"),
        ("painter.hidden=2.5", "'painter.hidden': Expected a <class 'int'>"),
        ("loop.steps=4.5e5", "'loop.steps': .*'4.5e5'"),  # jsonargparse reads no exponent for an int
        ("data.hflip=maybe", "'data.hflip': Expected a <class 'bool'>"),
        ("optim.betas=0.5", "'optim.betas': Expected a tuple with 2 elements"),
        ("optim.lr=none", "'optim.lr': Not of type PositiveFloat"),
        ("loop.max_minutes=soon", "'loop.max_minutes': .*NonNegativeFloat.*Given value: soon"),
        ("painter.image_width=wide", "'painter.image_width': .*Expected a <class 'int'>.*Given value: wide"),
        ("painter=3", "'painter' is a section"),
        ("loop.steps", "must look like section.field=value"),
    ],
)
def test_bad_override_values_name_the_key_in_one_line(override, message):
    with pytest.raises(FpaError, match=message) as error:
        apply_overrides(get_preset("smoke"), [override])
    assert "\n" not in str(error.value) and isinstance(error.value, ValueError)


def test_from_dict_rejects_unknown_keys_and_wrong_json_types():
    with pytest.raises(FpaError, match="unknown config key 'loop.stepz'"):
        from_dict({"loop": {"stepz": 3}})
    with pytest.raises(FpaError, match="'name': Expected a <class 'str'>"):
        from_dict({"name": 3})
    with pytest.raises(FpaError, match="'loop.steps': .*2.5 not an integer"):
        from_dict({"loop": {"steps": 2.5}})
    with pytest.raises(FpaError, match="'painter' is a section"):
        from_dict({"painter": 3})
    with pytest.raises(FpaError, match="JSON object"):
        from_dict([1, 2])


def test_partial_dict_keeps_the_base_values():
    base = get_preset("smoke")
    cfg = from_dict({"painter": {"hidden": 32}}, base=base)
    assert cfg.painter.hidden == 32
    assert config_differences(base, cfg) == {"painter.hidden": (16, 32)}


def test_dicts_take_json_types_for_tuples_optionals_and_numbers():
    cfg = from_dict({"unet": {"multipliers": [1, 2]}, "optim": {"lr": 1}, "painter": {"image_width": None}})
    assert (cfg.unet.multipliers, cfg.optim.lr, cfg.painter.image_width) == ((1, 2), 1, None)
    with pytest.raises(FpaError, match="'optim.batch_size': .*True not a number"):
        from_dict({"optim": {"batch_size": True}})


def test_construction_and_replace_check_the_fields_validate_checks_in_place_changes():
    cfg = get_preset("smoke")
    with pytest.raises(FpaError, match="OptimConfig.batch_size: 0 does not conform to restriction v>0"):
        dataclasses.replace(cfg.optim, batch_size=0)
    with pytest.raises(FpaError, match="image_size mismatch"):
        dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, image_size=32))
    cfg.ema.decay = 2.0
    with pytest.raises(FpaError, match="EMAConfig.decay: 2.0 does not conform"):
        cfg.validate()


def test_validate_refuses_disagreeing_image_sizes_and_with_image_size_fixes_them():
    with pytest.raises(FpaError, match="image_size mismatch: data.image_size=32 but painter.image_size=16"):
        apply_overrides(get_preset("smoke"), ["data.image_size=32"])
    fixed = with_image_size(get_preset("smoke"), 32)
    assert fixed.validate().painter.image_size == fixed.disc.image_size == fixed.lightgan.image_size == 32
    assert apply_overrides(get_preset("smoke"), ["data.image_size=32", "painter.image_size=32", "disc.image_size=32"])
    with pytest.raises(FpaError, match="channels mismatch.*lightgan.channels=1"):
        apply_overrides(get_preset("smoke"), ["generator=lightgan", "lightgan.channels=1"])
    lightgan = apply_overrides(get_preset("smoke"), ["generator=lightgan"])
    assert with_image_size(lightgan, 16, channels=1).validate().disc.channels == 1


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.batch_size=0", "'optim.batch_size': .*0 does not conform to restriction v>0"),
        ("optim.lr=0", "'optim.lr': .*0 does not conform to restriction v>0"),
        ("optim.betas=0.5,1.0", "'optim.betas': .*1.0 does not conform to restriction v>=0 and v<1"),
        ("loop.log_every=0", "'loop.log_every': .*does not conform to restriction v>0"),
        ("loop.max_minutes=-1", "'loop.max_minutes': .*does not conform to restriction v>=0"),
        ("eval.dims=65", "'eval.dims': .*Literal\\[64, 192, 768, 2048\\]"),
        ("eval.metrics=fid,is", "'eval.metrics': .*Got value: is"),
        ("generator=vae", "unknown generator 'vae'"),
        ("painter.image_width=32", "needs square images"),
        ("ema.decay=1.5", "'ema.decay': .*1.5 does not conform"),
    ],
)
def test_out_of_range_values_are_rejected(override, message):
    with pytest.raises(FpaError, match=message):
        apply_overrides(get_preset("smoke"), [override])


def test_config_files_round_trip_and_partial_files_apply_on_a_base(tmp_path):
    cfg = get_preset("emoji32-cpu")
    path = tmp_path / "cfg.json"
    save_config_file(cfg, path)
    assert load_config_file(path) == cfg
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"loop": {"steps": 7}, "optim": {"betas": [0.1, 0.2]}}))
    loaded = load_config_file(partial, base=cfg)
    assert (loaded.loop.steps, loaded.optim.betas, loaded.painter) == (7, (0.1, 0.2), cfg.painter)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(FpaError, match="not valid JSON"):
        load_config_file(broken)
    with pytest.raises(FpaError, match="does not exist"):
        load_config_file(tmp_path / "missing.json")


def test_config_keys_lists_every_leaf_and_run_dir_defaults_to_the_name():
    keys = config_keys()
    assert {"name", "painter.hidden", "optim.betas", "loop.steps", "ema.decay", "loss.gp_weight"} <= set(keys)
    assert not any(key in ("painter", "loop") for key in keys)
    cfg = ExperimentConfig(name="abc")
    assert str(cfg.run_dir) == "runs/abc"
    assert str(apply_overrides(cfg, ["loop.out=/tmp/x"]).run_dir) == "/tmp/x"


def test_emoji_preset_adds_the_options_against_mode_collapse_and_paper_presets_do_not():
    emoji = get_preset("emoji32-cpu")
    assert (emoji.augment.names, emoji.disc.minibatch_std_group, emoji.loss.mode_seeking_weight) == (
        ["color", "translation", "cutout"], 4, 1.0)
    for name in ("paper-celeba64", "paper-celeba64-lightgan"):
        cfg = get_preset(name)
        assert (cfg.augment.names, cfg.disc.minibatch_std_group, cfg.loss.mode_seeking_weight) == ([], 0, 0.0), name
    unet = get_preset("emoji32-cpu-unet")  # refines as measured; its disc section comes from the painter
    assert (unet.augment.names, unet.loss.mode_seeking_weight) == ([], 0.0)
    paper_like = apply_overrides(emoji, ["augment.policy=", "disc.minibatch_std_group=0", "loss.mode_seeking_weight=0"])
    assert paper_like.loss == get_preset("paper-celeba64").loss and not paper_like.augment.names


def test_a_misspelt_key_of_a_stored_config_or_argument_suggests_the_field():
    with pytest.raises(FpaError, match="unknown config key 'painter.steps'; did you mean: painter.num_steps"):
        from_dict({"painter": {"steps": 8}})
    with pytest.raises(FpaError, match="did you mean: painter.num_steps"):
        parse_config_args(["--painter.steps", "8"])
