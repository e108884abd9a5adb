"""Files in and out.

Out: atomic file and directory writes (a killed run never leaves output that looks complete), and an
output directory is replaced only when it is safe to (:func:`check_output_dir`).
In: text inputs opened and decoded with errors that name the file and line. :func:`read_text_lines` (a
list) and :func:`iter_text_lines` (a stream, for corpora too large to hold) are the line readers that
commands and data sources read text through (bytes from :func:`open_input`, lines decoded by
:func:`decode_lines`), so a byte-order mark, bad UTF-8, a directory or a missing file get the same
handling everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import re
import shutil
import socket
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from repro.errors import DataError, ReproError

BOM = "\ufeff"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: str | os.PathLike, directory: bool = False) -> None:
    """mkstemp/mkdtemp create private (0600/0700) paths; give them the modes a plain open/mkdir would."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _file_in_the_way(path: str | os.PathLike) -> Path | None:
    """The nearest existing ancestor of ``path`` if it is not a directory (so ``path`` cannot be made)."""
    for parent in Path(os.path.abspath(path)).parents:
        if os.path.lexists(parent):
            return None if parent.is_dir() else parent
    return None


def cannot_write(path: object, exc: OSError) -> ReproError:
    blocker = _file_in_the_way(str(path))
    if blocker is not None:
        return ReproError(f"{path}: cannot write here: {blocker} is a file, not a directory")
    return ReproError(f"{path}: cannot write here ({exc.strerror or exc})")


# Write failures that are the storage's, not the program's: the user frees space, raises a quota, or
# writes elsewhere, and reruns.
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def free_space(path: str | os.PathLike) -> str:
    """How much room the filesystem holding ``path`` has left, for messages ("12.3 MB free")."""
    for folder in (Path(path), *Path(os.path.abspath(path)).parents):
        if folder.is_dir():
            try:
                return f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free"
            except OSError:
                break
    return "free space unknown"


def write_failed(path: object, exc: BaseException) -> ReproError:
    """The error for a write of ``path`` that failed with ``exc``, naming the path, the cause and the free
    space: a full disk is reported as one (numpy's short writes carry no errno, torch's carry only a
    RuntimeError message), so the free space is what tells the user which it was."""
    if isinstance(exc, OSError) and exc.errno is not None and exc.errno not in _STORAGE_ERRNOS:
        return cannot_write(path, exc)
    cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).strip() or type(exc).__name__
    return ReproError(f"{path}: could not be written ({cause}; {free_space(path)} on its filesystem); "
                      "free some space or write elsewhere, and run the command again")


def is_write_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is how a full disk (or quota, or read-only filesystem) shows up while writing:
    an ``OSError`` with a storage errno, numpy's "N requested and M written", torch's stream writer."""
    if isinstance(exc, OSError):
        return exc.errno in _STORAGE_ERRNOS or (exc.errno is None and "written" in str(exc))
    return isinstance(exc, RuntimeError) and ("PytorchStreamWriter" in str(exc) or "file write failed" in str(exc)
                                              or "unexpected pos" in str(exc))


def within(inner: str | os.PathLike, outer: str | os.PathLike) -> bool:
    """Whether ``inner`` is ``outer`` or lies inside it, compared as written and with symbolic links
    resolved, so that neither spelling slips through."""
    inner, outer = Path(os.path.abspath(inner)), Path(os.path.abspath(outer))
    return any(a == b or b in a.parents for a, b in ((inner, outer), (inner.resolve(), outer.resolve())))


def _temp_file_beside(path: Path) -> str:
    """A private temporary file in ``path``'s directory, with OS errors turned into a message."""
    if path.is_dir():
        raise ReproError(f"{path}: is a directory; give the path of a file to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    os.close(fd)
    return tmp


def _fsync(path: str | os.PathLike) -> None:
    """Flush ``path`` (a file, or a directory: the names in it) to the disk, where the system allows it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # a directory on some file systems (and every one on Windows) cannot be fsynced
        if not os.path.isdir(path):
            raise
    finally:
        os.close(fd)


def _publish(tmp: str, path: Path) -> None:
    """Rename the complete ``tmp`` onto ``path``: its data on the disk first, then the rename itself, so
    that a machine that crashes right after leaves the previous file or the new one, never a truncated one."""
    _publish_mode(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    tmp = _temp_file_beside(path)
    try:
        with open(tmp, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _publish(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_write_failure(exc):
            raise write_failed(path, exc) from None
        raise


def atomic_save(save_fn: Callable[[str], object], path: str | os.PathLike) -> None:
    """Call ``save_fn(tmp_path)`` and rename the result onto ``path`` once it is on the disk (for
    torch.save, np.save, ...: a checkpoint never ends up truncated)."""
    path = Path(path)
    tmp = _temp_file_beside(path)
    try:
        save_fn(tmp)
        _fsync(tmp)
        _publish(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_write_failure(exc):
            raise write_failed(path, exc) from None
        raise


# ----------------------------------------------------------------------------------- output directories
# Temporary directories are named ``.NAME.tmp-PID@HOST-`` plus tempfile's random suffix (``.old-`` while the
# previous output is being dropped), so that a later start can tell a killed run's leftovers from a run
# still going.
_OWNER = re.compile(r"^(?P<pid>\d+)@(?P<host>[^/@]*)-[^-]*$")


def _temp_prefix(name: str, kind: str) -> str:
    return f".{name}.{kind}-{os.getpid()}@{socket.gethostname()}-"


def _owner_alive(suffix: str) -> bool:
    """Whether the process that made a temporary directory (named by ``suffix``) may still be running."""
    match = _OWNER.match(suffix)
    if match is None:
        return False  # no owner in the name: left by an older version, whose runs are long gone
    if match["host"] != socket.gethostname():
        return True  # another machine's process (shared filesystem): its liveness cannot be checked here
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except (OverflowError, ValueError):
        return False
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the ``.NAME.tmp-*`` / ``.NAME.old-*`` directories a killed :func:`atomic_dir` left beside
    ``path``; return them. Only that pattern, only beside ``path``, and never one whose process lives.

    A run killed between its two renames leaves no ``path`` but the previous output inside ``.old-*``:
    that output is moved back rather than deleted.
    """
    path = Path(os.path.abspath(path))
    removed: list[Path] = []
    if not path.name or not path.parent.is_dir():
        return removed
    for kind in ("old", "tmp"):  # old first: it may hold the output to restore
        prefix = f".{path.name}.{kind}-"
        for entry in sorted(path.parent.iterdir()):
            if not entry.name.startswith(prefix) or entry.is_symlink() or not entry.is_dir():
                continue
            if _owner_alive(entry.name[len(prefix):]):
                continue
            previous = entry / path.name
            if kind == "old" and not os.path.lexists(path) and previous.is_dir():
                os.replace(previous, path)
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _listing(directory: Path, limit: int = 3) -> str:
    names = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in directory.iterdir())
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} entries)" if len(names) > limit else "")


def check_output_dir(path: str | os.PathLike, owned: Callable[[Path], bool] | None = None,
                     inputs: Iterable[str | os.PathLike] = (), writer: str = "this command") -> None:
    """Refuse (``ReproError``) to let :func:`atomic_dir` replace ``path`` unless that loses nothing.

    Allowed: a path that does not exist, an empty directory, or a directory ``owned(path)`` recognises as
    one ``writer`` wrote. Refused: a file, the current directory or one of its parents, a directory holding
    one of ``inputs``, and any other non-empty directory. Leftovers of a killed run are removed first.
    Call it before slow work, so that a refusal comes at once.
    """
    shown = Path(path)
    out = Path(os.path.abspath(path))
    advice = "choose a new or empty directory"
    if within(Path.cwd(), out):
        raise ReproError(f"{shown}: is the current directory or one of its parents; refusing to replace it "
                         f"with {writer}'s output ({advice}, e.g. {shown / 'data'})")
    for item in inputs:
        full = Path(os.path.abspath(item))
        if within(full, out):
            what = "is the input file" if full == out else f"contains the input file {item}"
            raise ReproError(f"{shown}: {what}; refusing to replace it with {writer}'s output "
                             f"({advice} that does not hold the inputs)")
    blocker = _file_in_the_way(out)
    if blocker is not None:
        raise ReproError(f"{shown}: cannot be created: {blocker} is a file, not a directory")
    try:
        remove_stale_temporaries(out)
        if not out.exists():
            if os.path.lexists(out):
                raise ReproError(f"{shown}: is a broken symbolic link; remove it or {advice}")
            return
        if not out.is_dir():
            raise ReproError(f"{shown}: is a file, not a directory; refusing to replace it with {writer}'s "
                             f"output (remove it yourself or {advice})")
        if not any(out.iterdir()) or (owned is not None and owned(out)):
            return
    except OSError as exc:
        raise ReproError(f"{shown}: cannot inspect the output directory ({exc.strerror or exc})") from None
    raise ReproError(f"{shown}: is a non-empty directory that {writer} did not write (it holds {_listing(out)}); "
                     f"refusing to replace it ({advice}, or remove this one yourself)")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, owned: Callable[[Path], bool] | None = None,
               inputs: Iterable[str | os.PathLike] = (), writer: str = "this command") -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success it replaces ``path`` whole.

    ``path`` must pass :func:`check_output_dir` (same ``owned``, ``inputs``, ``writer``), checked on entry
    and again just before the rename. A run killed half-way leaves only a hidden ``.name.tmp-*``
    directory, which no later step reads and the next start removes.
    """
    inputs = list(inputs)
    shown = path
    path = Path(os.path.abspath(path))
    check_output_dir(shown, owned, inputs, writer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path.name, "tmp"), dir=path.parent))
    except OSError as exc:
        raise cannot_write(shown, exc) from None
    _publish_mode(tmp, directory=True)
    try:
        yield tmp
        check_output_dir(shown, owned, inputs, writer)  # the block may have run for hours
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=_temp_prefix(path.name, "old"), dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ----------------------------------------------------------------------------------- outputs against inputs
def same_path(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: as written, with links resolved, or as one inode (a hard link)."""
    first, second = Path(os.path.abspath(a)), Path(os.path.abspath(b))
    if first == second or first.resolve() == second.resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist yet
        return False


def check_outputs(outputs: dict[str, str | os.PathLike | None], inputs: dict[str, str | os.PathLike | None],
                  run_dirs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse, before anything is read or written, an output that would destroy an input.

    ``outputs`` and ``inputs`` map an option (``--output``) to its path (None or ``-``: a standard stream,
    skipped). Refused: an output that is one of the inputs, two outputs that are one file, and an output
    inside one of ``run_dirs`` (the run directories a command reads: their files belong to ``repro train``).
    """
    def named(items: dict[str, str | os.PathLike | None]) -> list[tuple[str, str | os.PathLike]]:
        return [(option, path) for option, path in items.items() if path is not None and str(path) != "-"]

    written = named(outputs)
    for index, (option, path) in enumerate(written):
        for other, source in named(inputs):
            if same_path(path, source):
                raise ReproError(f"{path}: {option} is the input file given as {other}; refusing to overwrite an "
                                 f"input (write the output elsewhere)")
        for other, target in written[:index]:
            if same_path(path, target):
                raise ReproError(f"{path}: given both as {other} and as {option}; give each output its own file")
        for run_dir in run_dirs:
            if within(path, run_dir):
                raise ReproError(f"{path}: {option} lies inside the run directory {run_dir}, whose files belong to "
                                 "`repro train`; write the output elsewhere")


# ----------------------------------------------------------------------------------- text inputs
def check_input_file(path: str | os.PathLike, label: str | None = None, missing_hint: str | None = None) -> Path:
    """``path`` if it can be opened as an input file, else ``DataError`` saying why (missing, a directory).

    A missing file reads ``PATH: LABEL file not found``, or with ``missing_hint`` (for a file an earlier
    step writes, where "not found" alone does not say what to do) ``PATH: missing (MISSING_HINT)``.
    """
    path = Path(path)
    what = f"{label} file" if label else "file"
    if path.is_dir():
        raise DataError(f"is a directory, expected a text file{f' ({what})' if label else ''}", path)
    if not path.exists():
        raise DataError(f"missing ({missing_hint})" if missing_hint else f"{what} not found", path)
    return path


def open_input(path: str | os.PathLike, label: str | None = None, decompress: bool = False,
               missing_hint: str | None = None) -> IO[bytes]:
    """Open an input file for reading bytes (gunzipped when ``decompress`` and the name ends in .gz)."""
    path = check_input_file(path, label, missing_hint)
    try:
        if decompress and path.suffix == ".gz":
            return gzip.open(path, "rb")
        return open(path, "rb")
    except PermissionError:
        raise DataError("cannot read the file (permission denied)", path) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", path) from None


@contextlib.contextmanager
def read_errors(name: object) -> Iterator[None]:
    """Turn errors met while reading an open input into ``DataError`` naming it."""
    try:
        yield
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"not a valid gzip file, though its name ends in .gz ({exc})", name) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", name) from None


def decode_lines(handle: Iterable[bytes], name: object) -> Iterator[str]:
    """Lines of UTF-8 bytes as text without their line ending (``\\n``, ``\\r\\n``).

    A byte-order mark opening the first line is dropped: editors on Windows write one, and it would
    otherwise become part of the first word. Invalid UTF-8 raises ``DataError`` naming ``name`` and
    the 1-based line.
    """
    with read_errors(name):
        for lineno, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"invalid UTF-8 ({exc.reason} at byte {exc.start} of the line)", name,
                                lineno) from None
            if lineno == 1 and line.startswith(BOM):
                line = line[1:]
            yield line.rstrip("\r\n")


def iter_text_lines(path: str | os.PathLike | None, label: str | None = None, decompress: bool = False,
                    missing_hint: str | None = None) -> Iterator[str]:
    """The lines of a UTF-8 text file one at a time, or of stdin when ``path`` is None or '-'.

    For inputs too large to hold (training corpora); :func:`read_text_lines` is the list form. Lines
    come as :func:`decode_lines` gives them; ``decompress`` gunzips a name ending in .gz; ``label``
    and ``missing_hint`` shape the messages as in :func:`check_input_file`. The file is opened, and
    errors raised, when the first line is asked for.
    """
    if path is None or str(path) == "-":
        yield from decode_lines(sys.stdin.buffer, "<stdin>")
        return
    with open_input(path, label, decompress, missing_hint) as handle:
        yield from decode_lines(handle, path)


def read_text_lines(path: str | os.PathLike | None, label: str = "input", decompress: bool = False,
                    missing_hint: str | None = None) -> list[str]:
    """All lines of a UTF-8 text file, or of stdin when ``path`` is None or '-' (see :func:`iter_text_lines`)."""
    return list(iter_text_lines(path, label, decompress, missing_hint))
