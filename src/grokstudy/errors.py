"""Errors that name what is wrong so a user can fix it."""


class ConfigError(ValueError):
    """A configuration value is out of range; the message names the key and the allowed range."""

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"config key '{key}': {message}")


class CorruptArtifactError(RuntimeError):
    """An artifact on disk does not match the checksum recorded when it was written."""

    @classmethod
    def mismatch(cls, path, expected: str, actual: str, recorded_in, way_out: str) -> "CorruptArtifactError":
        return cls(
            f"{path} is corrupt: its sha256 is {actual}, but {recorded_in} records {expected}."
            f" Nothing was computed from it; {way_out}"
        )

    @classmethod
    def unrecorded(cls, path, recorded_in, why: str, way_out: str) -> "CorruptArtifactError":
        """`path` cannot be checked: it is missing, or `recorded_in` holds no usable hash for it."""
        return cls(f"{path} cannot be checked against {recorded_in}: {why}. Nothing was computed from it; {way_out}")


class ArtifactError(RuntimeError):
    """Sealing or restoring artifacts cannot go on; the message says why and what to do."""
