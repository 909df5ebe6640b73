"""Reading and writing the IDX file format used by MNIST.

An IDX file is a big-endian header followed by the raw array data::

    bytes 0-1   0x00 0x00
    byte  2     type code (0x08 = uint8, 0x09 = int8, 0x0B = int16,
                0x0C = int32, 0x0D = float32, 0x0E = float64)
    byte  3     number of dimensions
    then        one unsigned 32-bit size per dimension
    then        the elements in row-major (C) order

Files are often distributed gzip-compressed; :func:`read_idx` recognises
those by their content (the gzip magic bytes), not by their name.
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import zlib
from pathlib import Path

import numpy as np

from ._files import describe_file_type

__all__ = ["IDXFormatError", "read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian dtype of the stored elements.
_CODE_TO_DTYPE = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_DTYPE_TO_CODE = {dtype.newbyteorder("="): code for code, dtype in _CODE_TO_DTYPE.items()}

# Reading in bounded chunks keeps memory proportional to the data actually
# present, so a header claiming absurd sizes cannot trigger a huge allocation.
_CHUNK_SIZE = 1 << 20


class IDXFormatError(ValueError):
    """Raised when a file is not a well-formed IDX file.

    Also raised when the path names something other than a regular file (a
    directory, a FIFO, a device). The message names the function and the
    file, what was expected and what was found.
    """


def _check_path(path, caller: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"{caller}: expected path as a str or os.PathLike, got {type(path).__name__}"
        )
    return Path(path)


def _open_regular(path: Path, caller: str):
    """Open `path` for binary reading, accepting only a regular file.

    The file is opened without blocking before its type is checked, so a FIFO
    without a writer is rejected at once instead of hanging the reader; and
    checking the opened file, not the name, leaves no gap for the name to be
    replaced in between.
    """
    nonblocking = getattr(os, "O_NONBLOCK", 0)
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0) | nonblocking)
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            raise IDXFormatError(
                f"{caller}: expected a regular file holding IDX data at {path}, "
                f"got {describe_file_type(mode)}"
            )
        if nonblocking:
            os.set_blocking(handle, True)
        return os.fdopen(handle, "rb")
    except BaseException:
        os.close(handle)
        raise


def _read_exactly(stream, size: int) -> bytearray:
    """Read up to `size` bytes, stopping early only at the end of the stream."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = stream.read(min(_CHUNK_SIZE, size - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer


def _parse(stream, path: Path) -> np.ndarray:
    head = _read_exactly(stream, 4)
    if len(head) < 4:
        raise IDXFormatError(
            f"read_idx: expected at least 4 bytes (an IDX header) in {path}, "
            f"got {len(head)} (file too short)"
        )
    if head[0] != 0 or head[1] != 0:
        raise IDXFormatError(
            f"read_idx: expected the IDX magic number's first two bytes "
            f"0x00 0x00 in {path}, got 0x{head[0]:02x} 0x{head[1]:02x} "
            f"(magic 0x{bytes(head).hex()})"
        )
    code, ndim = head[2], head[3]
    if code not in _CODE_TO_DTYPE:
        known = ", ".join(f"0x{c:02x}" for c in _CODE_TO_DTYPE)
        raise IDXFormatError(
            f"read_idx: expected an IDX type code (one of {known}) in {path}, "
            f"got unknown type code 0x{code:02x}"
        )
    if ndim == 0:
        raise IDXFormatError(
            f"read_idx: expected at least 1 dimension in the IDX header of {path}, got 0 dimensions"
        )

    dims_bytes = _read_exactly(stream, 4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise IDXFormatError(
            f"read_idx: expected {4 * ndim} bytes of dimension sizes for "
            f"{ndim} dimensions in {path}, got {len(dims_bytes)} "
            "(truncated IDX header)"
        )
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    dtype = _CODE_TO_DTYPE[code]
    expected = math.prod(shape) * dtype.itemsize

    # One byte more than expected is requested so that trailing data is caught.
    payload = _read_exactly(stream, expected + 1)
    declared = f"{expected} bytes of data (the header declares shape {shape} of {dtype.name})"
    if len(payload) < expected:
        raise IDXFormatError(
            f"read_idx: expected {declared} in {path}, "
            f"got only {len(payload)} bytes (truncated data)"
        )
    if len(payload) > expected:
        rest = iter(lambda: stream.read(_CHUNK_SIZE), b"")
        extra = 1 + sum(len(chunk) for chunk in rest)
        raise IDXFormatError(
            f"read_idx: expected {declared} in {path}, "
            f"got {extra} extra bytes after them (unexpected trailing data)"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(shape)
    # Hand out native byte order; a no-op (and no copy) for the byte types.
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or raw.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read. Gzip compression is detected from the file's first
        two bytes, whatever its name.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order with the shape and element type
        stored in the header (``uint8`` for the MNIST files).

    Raises
    ------
    IDXFormatError
        If the file is not a well-formed IDX file: wrong magic number, unknown
        type code, truncated header or data, trailing bytes, or a corrupt gzip
        stream; or if `path` is not a regular file but a directory, a FIFO (it
        is not waited on), a device or a socket. The message names the file,
        what was expected and what was found.
    FileNotFoundError
        If the file does not exist.
    TypeError
        If `path` is not a str or path-like object.
    """
    path = _check_path(path, "read_idx")
    with _open_regular(path, "read_idx") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, path)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(stream, path)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:
            # gzip reports damage through several unrelated exception types
            # (BadGzipFile, EOFError, zlib.error); present them uniformly.
            raise IDXFormatError(
                f"read_idx: expected a valid gzip-compressed IDX file at {path}, "
                f"got a corrupt gzip stream ({type(error).__name__}: {error})"
            ) from error


def write_idx(path: str | os.PathLike, array, *, compress: bool | None = None) -> Path:
    """Write an array as an IDX file.

    Compressed output is deterministic: the gzip header carries neither a
    timestamp nor a file name, so equal arrays give byte-identical files.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; it is overwritten if it exists.
    array : array_like
        Data with 1 to 255 dimensions and an element type IDX can store:
        uint8, int8, int16, int32, float32 or float64.
    compress : bool, optional
        Whether to gzip the file. By default, files whose name ends in
        ``.gz`` are compressed.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    TypeError
        If `path` is not path-like, the element type cannot be stored or
        `compress` is not a bool or None.
    ValueError
        If the array has no or more than 255 dimensions, or a dimension does
        not fit in 32 bits.
    """
    path = _check_path(path, "write_idx")
    if compress is not None and not isinstance(compress, bool):
        raise TypeError(
            f"write_idx: expected compress as True, False or None, got {type(compress).__name__}"
        )
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _DTYPE_TO_CODE:
        supported = ", ".join(sorted(d.name for d in _DTYPE_TO_CODE))
        raise TypeError(
            f"write_idx: expected elements of a type IDX can store ({supported}), got {array.dtype}"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: expected an array with 1 to 255 dimensions, got {array.ndim}")
    if max(array.shape) > 0xFFFFFFFF:
        raise ValueError(
            f"write_idx: expected dimension sizes that fit in 32 bits, got shape {array.shape}"
        )
    if compress is None:
        compress = path.name.endswith(".gz")

    header = bytes([0, 0, _DTYPE_TO_CODE[native], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = np.ascontiguousarray(array, dtype=native.newbyteorder(">")).tobytes()
    with open(path, "wb") as file:
        if compress:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=file, compresslevel=9, mtime=0
            ) as stream:
                stream.write(header + data)
        else:
            file.write(header + data)
    return path
