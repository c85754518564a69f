"""Errors that are the user's to fix: entry points print them as one clear line, not a traceback."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input (data, config, checkpoint) with a message that says what and how to fix it."""


class DataError(UserError):
    """A dataset file is missing, truncated or malformed."""


class ConfigError(UserError):
    """A config value is out of range or contradicts another one."""


REQUIRED_KEYS = {  # the `???` keys of conf/, and what they take (one wording for every program)
    "ckpt": "a checkpoint file, a checkpoints/ or run folder (predict and serve: also an exported .pt2/.onnx)",
    "inputs": "image files and/or folders, e.g. inputs=digits/ or inputs=[a.png,b.jpg]",
}


def missing_key(key: str) -> ConfigError:
    return ConfigError(f"{key} is required: {REQUIRED_KEYS.get(key, 'see --help')} (see --help)")


def required(cfg: Any, key: str) -> Any:
    """The value of a required key (`???` in conf/), or one error line when it is missing or null."""
    from omegaconf import OmegaConf

    if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, "", []):
        raise missing_key(key)
    return cfg[key]


def invalid_value(key: str, value: Any, expected: str) -> ConfigError:
    """The one wording for a bad config value: `invalid config value lr='fast': expected a number > 0`."""
    return ConfigError(f"invalid config value {key}={value!r}: expected {expected}")


def invalid_choice(key: str, value: Any, choices: Any) -> ConfigError:
    """A value that must be one of a registry's names."""
    return invalid_value(key, value, f"one of {sorted(choices)}")
