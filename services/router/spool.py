"""The router's spool directory: file names and private, atomic writes.

Files, by suffix (one stem per request id):
- `.open`: a call in flight, written before its upstream request and rewritten at
  checkpoints; it holds the usage record to bill if the router dies (status
  interrupted). Its mtime is its heartbeat.
- `.rec`: a finished call's usage record, until Metering acknowledges it.
- `.dead`: a record Metering refused for good (INVALID_ARGUMENT, FAILED_PRECONDITION),
  set aside for an operator; `.bad`: a file that is not a usage record.

The directory is 0700 and every file 0600: usage records name projects, keys and end
users. A write goes to a temporary file that is then renamed over its name, so a
reader (another replica's sweep) never sees half a record.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import uuid
from pathlib import Path

RECORD = ".rec"
OPEN = ".open"
DEAD = ".dead"
BAD = ".bad"
TMP = ".tmp"
DIR_MODE = 0o700
FILE_MODE = 0o600
SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def stem(request_id: str) -> str:
    """The file-name stem of a request id; ids that are not file-name safe are hashed."""
    if SAFE_NAME.fullmatch(request_id) and not request_id.startswith("."):
        return request_id
    return hashlib.sha256(request_id.encode("utf-8", "surrogatepass")).hexdigest()


def spool_name(request_id: str, suffix: str = RECORD) -> str:
    return stem(request_id) + suffix


def ensure_dir(spool: Path) -> None:
    """Create the spool private, and make an existing one private."""
    os.makedirs(spool, mode=DIR_MODE, exist_ok=True)
    if stat.S_IMODE(os.stat(spool).st_mode) != DIR_MODE:
        os.chmod(spool, DIR_MODE)


def write_atomic(spool: str, name: str, data: bytes, *, fsync: bool = False) -> None:
    # Plain os calls, not pathlib and a buffered file: this runs on the call's path
    # (before the upstream request, at its end), so every step it saves is latency.
    tmp = os.path.join(spool, f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{TMP}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            written = 0
            while written < len(data):  # a regular file takes it in one write, nearly always
                written += os.write(fd, data[written:])
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, os.path.join(spool, name))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def set_aside(path: str, suffix: str) -> None:
    """Rename a spool file out of the way (`.dead`, `.bad`); gone already is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.replace(path, path + suffix)


def claim_orphan(open_path: str, record_path: str) -> bool:
    """Turn an orphaned open file into a record file, unless a record is there (the
    call ended after all) or another sweeper took it first: True when it is ours.
    A hard link never replaces a final record; the open file goes either way."""
    try:
        os.link(open_path, record_path)
        claimed = True
    except FileExistsError:
        claimed = False
    except FileNotFoundError:
        return False  # another sweeper took it
    except OSError:  # a file system without hard links
        try:
            os.replace(open_path, record_path)
        except FileNotFoundError:
            return False
        return True
    with contextlib.suppress(FileNotFoundError):
        os.unlink(open_path)
    return claimed
