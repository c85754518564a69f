"""Errors that are the user's to fix: entry points print them as one clear line, not a traceback."""

from __future__ import annotations

from typing import Any


class UserError(Exception):
    """Bad input (data, config, checkpoint) with a message that says what and how to fix it."""


class DataError(UserError):
    """A dataset file is missing, truncated or malformed."""


class ConfigError(UserError):
    """A config value is out of range or contradicts another one."""


def required(cfg: Any, key: str, what: str) -> Any:
    """The value of a required key (`???` in conf/), or one error line when it is missing or null."""
    from omegaconf import OmegaConf

    if OmegaConf.is_missing(cfg, key) or cfg.get(key) in (None, "", []):
        raise ConfigError(f"{key} is required: {what} (see --help)")
    return cfg[key]


def invalid_value(key: str, value: Any, expected: str) -> ConfigError:
    """The one wording for a bad config value: `invalid config value lr='fast': expected a number > 0`."""
    return ConfigError(f"invalid config value {key}={value!r}: expected {expected}")


def invalid_choice(key: str, value: Any, choices: Any) -> ConfigError:
    """A value that must be one of a registry's names."""
    return invalid_value(key, value, f"one of {sorted(choices)}")
