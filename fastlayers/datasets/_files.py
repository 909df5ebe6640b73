"""What kind of file system entry a path is, in words for error messages."""

from __future__ import annotations

import stat

__all__ = ["describe_file_type"]

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISREG, "a regular file"),
)


def describe_file_type(mode: int) -> str:
    """Name the kind of entry that the ``st_mode`` `mode` describes."""
    for test, description in _KINDS:
        if test(mode):
            return description
    return f"a special file (mode 0o{stat.S_IFMT(mode):o})"
