"""Errors that name what is wrong so a user can fix it."""


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the key and the allowed range."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class CorruptArtifactError(RuntimeError):
    """An artifact on disk does not match the checksum recorded when it was written."""


class ArtifactError(RuntimeError):
    """Sealing or restoring artifacts cannot go on; the message says why and what to do."""
