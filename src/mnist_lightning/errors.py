"""Errors that are the user's to fix: entry points print them as one clear line, not a traceback."""


class UserError(Exception):
    """Bad input (data, config, checkpoint) with a message that says what and how to fix it."""


class DataError(UserError):
    """A dataset file is missing, truncated or malformed."""


class ConfigError(UserError):
    """A config value is out of range or contradicts another one."""
