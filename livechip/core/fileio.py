"""Reading files with a size limit, and writing them so that a failure never leaves a partial or corrupted output
behind."""

import contextlib
import os
import tempfile
import zlib
from pathlib import Path

from livechip.core.errors import FileFormatError


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside `path`; rename it over `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_limited(path, limit):
    """The first `limit` + 1 bytes of `path` (more than `limit` says the file is too large); a file that cannot
    be read is a FileFormatError."""
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except OSError as e:
        raise FileFormatError(path, e.strerror or str(e)) from None


def gunzip_limited(data, limit, path):
    """`data` decompressed if it is gzip (else as it is), at most `limit` bytes of it; a larger, truncated or
    corrupt stream is a FileFormatError (a small file cannot unpack into gigabytes)."""
    if data[:2] != b"\x1f\x8b":
        return data
    d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise FileFormatError(path, f"corrupt gzip data ({e})") from None
    if len(out) > limit:
        raise FileFormatError(path, f"decompresses to more than {limit >> 20} MiB")
    if not d.eof:
        raise FileFormatError(path, "truncated gzip data")
    return out
