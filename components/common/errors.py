"""Errors a user can act on: the CLI prints them as one line, not a stack trace."""


class NolabelError(Exception):
    """A problem with input or configuration, explained in one sentence."""


class ConfigurationError(NolabelError):
    """Settings are wrong or a configured service cannot be used."""


class InputError(NolabelError):
    """The user's input (file, image, parameter) is unusable."""
