"""User-facing errors of the experiments layer. The CLI turns them into one message and exit code 2."""


class ConfigError(ValueError):
    """A configuration problem found before any work started: names the field, the value and what is allowed."""


class StoreMismatch(ValueError):
    """The output directory holds results of a different experiment configuration."""


class StoreBusy(StoreMismatch):
    """Another process is writing the output directory."""
