"""The schema (schema.py): its names are the registries', and every key of every program, given any
value a user might type, is taken or refused in one line naming it; never a traceback."""

import copy
import dataclasses
import functools
import re

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from mnist_lightning import schema
from mnist_lightning.errors import ConfigError
from mnist_lightning.models import ACTIVATIONS
from mnist_lightning.models.mlp_gradients import COMPUTE_DTYPES
from mnist_lightning.persistence.export import FORMATS
from mnist_lightning.training.optimizers import OPTIMIZERS
from mnist_lightning.training.schedule import SCHEDULES
from tests.helpers import compose_config, run_script, small_run_overrides

REQUIRED = {
    "train": [],
    "evaluate": ["ckpt=x"],
    "export": ["ckpt=x"],
    "predict": ["ckpt=x", "inputs=x"],
    "serve": ["ckpt=x"],
}


def test_the_schema_names_are_the_registries_names():
    assert set(schema.ACTIVATIONS) == set(ACTIVATIONS)
    assert set(schema.OPTIMIZERS) == set(OPTIMIZERS)
    assert set(schema.SCHEDULES) == set(SCHEDULES)
    assert set(schema.COMPUTE_DTYPES) == set(COMPUTE_DTYPES)
    assert set(schema.EXPORT_FORMATS) == {*FORMATS, "all"}


def leaf_keys(schema_class, prefix=""):
    for f in dataclasses.fields(schema_class):
        nested = None if f.default_factory is dataclasses.MISSING else f.default_factory
        yield from leaf_keys(nested, f"{prefix}{f.name}.") if nested else [f"{prefix}{f.name}"]


KEYS = [(program, key) for program, cls in schema.SCHEMAS.items() for key in leaf_keys(cls)]


def test_the_defaults_of_every_program_pass_their_schema():
    for program in schema.SCHEMAS:
        schema.check_config(program, compose_config(program, REQUIRED[program]))


def as_override(value):
    """A Python value as a user types it on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ",".join(as_override(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["", " ", "abc", "maybe", "yes", "-1", "0", "1e400", "nan", "relu", "auto", "🙂", "a,b", "[1", "${x}"]
    ),
    st.text(max_size=12),
    st.lists(st.integers(-5, 600), max_size=3),
    st.lists(st.sampled_from(["", "a", "localhost"]), max_size=2),
)


@functools.cache
def composed(program):
    return compose_config(program, REQUIRED[program])


def with_override(program, override):
    """The program's config with `key=value` applied as Hydra applies a value override (its parser,
    then OmegaConf.update with merge), without composing again for each drawn case."""
    parsed = OverridesParser.create().parse_override(override)
    cfg = copy.deepcopy(composed(program))
    OmegaConf.update(cfg, parsed.key_or_group, parsed.value(), merge=True)
    return cfg


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KEYS), odd_values)
def test_any_value_of_any_key_is_taken_or_refused_in_one_line_naming_it(program_key, value):
    program, key = program_key
    try:
        cfg = with_override(program, f"{key}={as_override(value)}")
    except (HydraException, OmegaConfBaseException):
        return  # refused while composing: the CLI's one line (console.run_hydra_app; tests/test_cli.py)
    try:
        schema.check_config(program, cfg)
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("invalid config value ")
        assert (
            message.split("=", 1)[0].removeprefix("invalid config value ") in {key, key.rsplit(".", 1)[0]}
            or key in message
        )


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ("model.hidden=500", "model.hidden=500: expected a list of integers > 0"),
        ("torch_threads=0", "torch_threads=0: expected null (automatic) or an integer >= 1"),
        ("torch_threads=abc", "torch_threads='abc'"),
        ("lr_schedule.staircase=maybe", "lr_schedule.staircase='maybe': expected true or false"),
        ("data.eval_batch_size=0", "data.eval_batch_size=0: expected an integer > 0"),
        ("trainer.devices=abc", "trainer.devices='abc'"),
        ("callbacks.model_checkpoint.save_top_k=abc", "callbacks.model_checkpoint.save_top_k='abc'"),
        ("lr=nan", "lr=nan: expected a number > 0"),
    ],
)
def test_values_no_check_covered_before_are_refused_by_the_schema(override, said):
    with pytest.raises(ConfigError, match=f"invalid config value {re.escape(said)}"):
        schema.check_config("train", compose_config("train", [override]))


@pytest.mark.parametrize(
    ("program", "args", "said"),
    [
        (
            "evaluate.py",
            ["ckpt=x", "watch=true", "interval=-1"],
            "interval=-1.0: expected a number of seconds > 0",
        ),
        ("evaluate.py", ["ckpt=x", "interval=abc"], "interval='abc'"),
        ("evaluate.py", ["ckpt=x", "watch=true", "max_evals=0"], "max_evals=0"),
        ("evaluate.py", ["ckpt=x", "data.eval_batch_size=0"], "data.eval_batch_size=0"),
        ("serve.py", ["ckpt=x", "allowed_hosts=abc"], "allowed_hosts='abc': expected a list of host names"),
        ("train.py", ["lr_schedule.staircase=maybe"], "lr_schedule.staircase='maybe'"),
        ("train.py", ["model.hidden=500"], "model.hidden=500"),
    ],
)
def test_the_programs_refuse_them_in_one_line_exit_2(program, args, said):
    result = run_script(program, *args, "hydra.run.dir=/tmp/never-made")
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output, output[-2000:]
    assert f"error: invalid config value {said}" in output


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a GPU: accelerator=gpu trains"
)
def test_a_setting_lightning_refuses_is_one_line(synthetic_root, tmp_path):
    result = run_script("train.py", *small_run_overrides(synthetic_root, tmp_path), "trainer.accelerator=gpu")
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "Traceback" not in output and "Error executing job" not in output, (
        output[-2000:]
    )
    assert "error: Lightning refused a trainer, callbacks or logger setting: " in output
