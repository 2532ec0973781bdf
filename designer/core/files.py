"""Files the app writes and reads: atomic replacement that leaves nothing behind, the memory a
file may claim, and whether the process that wrote something is still alive.

Every write of a file users keep (projects, run files, checkpoints, exports) goes through
``atomic_path``: the new content goes to a hidden temporary file beside the target, which then
replaces it, so readers see the old file or the new one. The temporary name says which machine
and process made it, so a file left by a killed process is recognised and removed by the next
write into the same folder (or the next project opened from it).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import socket
import stat
import time
from pathlib import Path

TEMP_MARK = "nndtmp"
# A temporary file of another machine is removed only when it is this old: no write takes a day.
FOREIGN_TEMP_AGE = 24 * 3600.0
_TEMP_NAME = re.compile(rf"\..*\.{TEMP_MARK}-(?P<host>[0-9a-f]{{8}})-(?P<pid>\d+)-[0-9a-f]{{8}}"
                        r"(?:\.[^.]*)?")


def host_id() -> str:
    """A short, stable id of this machine (its host name, hashed)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (True when that cannot be known)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would end the process on Windows
        return _windows_process_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, owned by someone else
        return True
    return True


def _windows_process_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True
        return code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def temp_name(path: Path) -> str:
    """A hidden name beside ``path`` (same suffix) that says whose temporary file it is."""
    return (f".{path.stem}.{TEMP_MARK}-{host_id()}-{os.getpid()}-{secrets.token_hex(4)}"
            f"{path.suffix}")


def is_stale_temp(path: Path, host: str | None = None, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary file of this app whose writer is gone: a process of this
    machine that no longer runs, or a file of another machine older than a day."""
    match = _TEMP_NAME.fullmatch(path.name)
    if match is None:
        return False
    if match["host"] == (host or host_id()):
        pid = int(match["pid"])
        return pid != os.getpid() and not process_alive(pid)
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except OSError:
        return False
    return age > FOREIGN_TEMP_AGE


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files killed writers left in ``folder``; returns what was removed.
    Never raises: tidying up must not stop a save or an open."""
    removed = []
    host = host_id()
    try:
        with os.scandir(folder) as entries:
            candidates = [Path(e.path) for e in entries
                          if e.name.startswith(".") and TEMP_MARK in e.name]
    except OSError:
        return removed
    for path in candidates:
        if is_stale_temp(path, host):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _new_file_mode(fd: int) -> int:
    """The permissions a new file gets here: 0o666 less the umask (read back from a file just
    created with 0o666, since asking for the umask changes it for every thread)."""
    return stat.S_IMODE(os.fstat(fd).st_mode)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """A temporary path beside ``path`` (same suffix) that replaces ``path`` when the block
    ends without error; on an error or an interruption it is removed and ``path`` is untouched.

    The result keeps the permissions of the file it replaces; a new file gets the user's usual
    ones (not the owner-only ones of ``tempfile.mkstemp``). Temporary files that killed writers
    left in the folder are removed first.
    """
    path = Path(path)
    remove_stale_temps(path.parent)
    tmp = path.with_name(temp_name(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        mode = _new_file_mode(fd)
    finally:
        os.close(fd)
    try:
        with contextlib.suppress(FileNotFoundError):
            mode = stat.S_IMODE(os.stat(path).st_mode)
        yield tmp
        os.chmod(tmp, mode)  # a writer may have replaced the file it was given
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, text: str, durable: bool = True) -> None:
    """Replace ``path`` by a renamed temporary file: readers see the old text or the new.

    ``durable`` also flushes to disk before the rename, so a power cut cannot leave an empty
    file; status files rewritten every epoch skip that cost (a killed process is safe anyway).
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        if durable:
            f.flush()
            os.fsync(f.fileno())


def check_writable(folder: str | os.PathLike) -> None:
    """Raise OSError when no file can be created in ``folder``; leaves nothing behind (the
    probe has a temporary name, so even a kill mid-check leaves only what the next write
    removes)."""
    probe = Path(folder) / temp_name(Path(folder) / "probe")
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    probe.unlink()


# ---- what a file may claim -------------------------------------------------------------------

def available_memory() -> int | None:
    """Bytes of memory this process can have now without swapping: what the machine has free,
    within the container's limit (cgroup v2) and the process's address-space limit; None when
    unknown."""
    found = [amount for amount in (_machine_memory(), _cgroup_memory(), _address_space())
             if amount is not None]
    return min(found) if found else None


def _machine_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            continue
    return None


def _cgroup_memory() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        return None if limit == "max" else max(int(limit) - int(used), 0)
    except (OSError, ValueError):
        return None


def _address_space() -> int | None:
    try:
        import resource

        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    if limit == resource.RLIM_INFINITY:
        return None
    try:  # what the process has mapped already counts against the limit
        with open("/proc/self/statm", encoding="ascii") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        mapped = 0
    return max(limit - mapped, 0)


def size_text(count: int | float) -> str:
    """Bytes in words: ``8.0 GiB``; any size, however large."""
    count = float(min(count, 1e300))
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            break
        count /= 1024
    if unit == "bytes":
        return f"{count:.0f} bytes"
    return f"{count:.1f} {unit}" if count < 1e6 else f"{count:.2g} {unit}"
