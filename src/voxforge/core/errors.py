"""The voxforge exception family.

The CLI turns every :class:`VoxforgeError` into one line on stderr and a non-zero exit code;
the service maps them to HTTP statuses (see ``http_status``). Messages name the file and say
what was expected and what was found.
"""

from __future__ import annotations


class VoxforgeError(Exception):
    """Base class of every error voxforge raises on purpose."""

    exit_code: int = 1
    http_status: int = 422


class InputFormatError(VoxforgeError):
    """A file could not be read: missing, unreadable, truncated, or its content is malformed."""

    exit_code = 2
    http_status = 415


class UnsupportedInputError(VoxforgeError):
    """The input is of a kind voxforge does not read (unknown format, lying extension)."""

    exit_code = 2
    http_status = 415


class GeometryError(VoxforgeError):
    """The geometry cannot be processed: empty, NaN, no faces, too flat or too small."""

    exit_code = 3
    http_status = 422


class SizeLimitError(VoxforgeError):
    """The requested output would be absurdly large; the message says which size to use instead."""

    exit_code = 4
    http_status = 413


class ConfigError(VoxforgeError):
    """An option or configuration value is invalid (unknown key, impossible value)."""

    exit_code = 5
    http_status = 422


class PromptError(VoxforgeError):
    """A text prompt is unusable: empty, too long, not in a script the text encoder reads."""

    exit_code = 2
    http_status = 422
