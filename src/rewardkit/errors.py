"""How rewardkit fails: one line that names the problem, never a guess (README, "rewardkit never guesses").

`rewardkit.cli.main` prints `rewardkit: error: MESSAGE` on stderr and exits with status 2 for every
failure the user can fix (bad input, bad settings, a missing model or file, an unwritable output); any
other exception is a bug and is reported as `rewardkit: internal error: ...` (status 1). The traceback
is shown only with RK_DEBUG=1.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Iterable, TextIO

from pydantic import ValidationError

USAGE_STATUS = 2
"""Exit status for a failure the user can fix (click uses 2 for usage errors too)."""
BUG_STATUS = 1


class UserError(ValueError):
    """A failure the user can fix; the message names the file/line/field or option at fault."""


def one_line(text: str) -> str:
    """Collapse a multi-line message ("header\\n  detail\\n  detail") to "header: detail; detail"."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    head = lines[0].rstrip(":")
    return f"{head}: " + "; ".join(lines[1:])


def validation_message(e, *, as_options: bool = False) -> str:
    """A pydantic ValidationError as one line: 'field.sub: message (got value); ...', or with `as_options`
    (the settings came from command-line options) '--field-name: message (got value)'."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        where = ("--" + loc.replace("_", "-") if as_options else loc) if loc else ""
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        got = f" (got {err['input']!r})" if err["type"] != "extra_forbidden" and _short(err.get("input")) else ""
        parts.append(f"{where}: {msg}{got}" if where else msg)  # a whole-model check names its keys itself
    return "; ".join(parts)


def _short(value) -> bool:
    return isinstance(value, (int, float, str)) and len(repr(value)) <= 60


def user_message(e: BaseException) -> str | None:
    """The one-line message for a user-fixable failure, or None when `e` is a bug."""
    if isinstance(e, ValidationError):  # recipes wrap theirs in RecipeError: this one checked CLI options
        return validation_message(e, as_options=True)
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        # e.g. "[Errno 20] Not a directory: 'out/x'" -> "out/x: Not a directory"
        return f"{e.filename}: {e.strerror}"
    if isinstance(e, (ValueError, OSError, EOFError)):  # incl. BadRow, RecipeError, UnicodeDecodeError
        return one_line(str(e)) or type(e).__name__
    return None


def report_error(e: Exception, stream: TextIO | None = None) -> int:
    """Print the one line for `e` (a user error or a bug) and return the exit status."""
    message = user_message(e)
    if message is not None:
        print(f"rewardkit: error: {message}", file=stream or sys.stderr)
        return USAGE_STATUS
    detail = " ".join(str(e).split())
    print(f"rewardkit: internal error: {type(e).__name__}: {detail} (a bug: rerun with RK_DEBUG=1 for the "
          "traceback and report it)", file=stream or sys.stderr)
    return BUG_STATUS


def check_output_file(path: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse an output file location before any work is done, so the atomic write at the end cannot
    fail after an hour of scoring: not a directory, not one of the command's `inputs` (it would replace
    them), and its folder creatable and writable."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory; give a file path for the output")
    for source in inputs:
        if path.is_file() and Path(source).is_file() and os.path.samefile(path, source):
            raise UserError(f"{path}: is this command's input ({source}); give another output path (rewardkit "
                            "never overwrites or removes files it did not write)")
    _check_creatable(path.parent, path)
    return path


OWNED_MARKER = ".rewardkit-output"
"""The file rewardkit writes into every output directory it creates or takes over. A command writes,
replaces or removes files only in a directory that is new, empty or holds it: never a user's files."""


def is_owned_dir(path: str | Path) -> bool:
    """True for a directory rewardkit may write into and clear: absent, empty, or holding OWNED_MARKER."""
    path = Path(path)
    if not path.exists():
        return True
    return path.is_dir() and ((path / OWNED_MARKER).is_file() or not any(path.iterdir()))


def check_output_dir(path: str | Path) -> Path:
    """Refuse an output directory that exists as a file, cannot be created/written, or holds files
    rewardkit did not write (is_owned_dir): checked before any work, so nothing of the user's is touched."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; give a directory for the outputs")
    if not is_owned_dir(path):
        raise UserError(f"{path}: not empty and not written by rewardkit (no {OWNED_MARKER} in it); give a new "
                        "or empty directory (rewardkit never overwrites or removes files it did not write)")
    _check_creatable(path, path)
    return path


def own_output_dir(path: str | Path) -> Path:
    """check_output_dir, then create `path` and mark it as rewardkit's (OWNED_MARKER)."""
    path = check_output_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        mark_owned(path)
    except OSError as e:
        raise UserError(f"{path}: cannot write there ({e.strerror or e})") from None
    return path


def mark_owned(path: str | Path, files: list[str] | None = None) -> None:
    """Write OWNED_MARKER into a directory rewardkit created; `files` (the names it wrote there) makes a
    directory replaced as a whole (data.io.atomic_dir) refuse to go while it holds anything else."""
    marker = Path(path) / OWNED_MARKER
    if files is not None or not marker.is_file():
        text = "written by rewardkit: it may replace or remove the files here\n"
        marker.write_text(text + "".join(f"{name}\n" for name in files or []), encoding="utf-8")


def note_written(path: str | Path, names: list[str]) -> None:
    """Add `names` (files rewardkit just wrote into a directory it replaces as a whole) to the directory's
    OWNED_MARKER list, so a later replacement takes them too; nothing for a directory without a list."""
    marker = Path(path) / OWNED_MARKER
    if not marker.is_file():
        return
    head, *written = marker.read_text(encoding="utf-8").splitlines()
    if written and set(names) - set(written):
        lines = [head, *sorted(set(written) | set(names))]
        marker.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def check_replaceable_dir(path: str | Path) -> None:
    """Refuse to remove a directory that holds a file rewardkit did not write: not owned (check_output_dir),
    or a name its OWNED_MARKER does not list (when it lists any)."""
    path = check_output_dir(path)
    marker = path / OWNED_MARKER
    if not marker.is_file():
        return
    written = set(marker.read_text(encoding="utf-8").splitlines()[1:])
    foreign = sorted(p.name for p in path.iterdir() if p.name != OWNED_MARKER and p.name not in written)
    if written and foreign:
        raise UserError(f"{path}: holds {', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}, which "
                        "rewardkit did not write; move it away first (rewardkit never overwrites or removes files "
                        "it did not write)")


def _check_creatable(folder: Path, target: Path) -> None:
    probe = folder
    while not probe.exists() and probe.parent != probe:  # the nearest ancestor that exists
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{target}: cannot write there: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{target}: cannot write there: {probe} is not writable")


def check_port_free(host: str, port: int) -> None:
    """Bind and release host:port before a model is loaded, so a busy port or unknown host fails in a
    second with one line, not after the load (uvicorn would then exit with status 3)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            sock.bind(infos[0][4])
    except OSError as e:
        raise UserError(f"--host {host} --port {port}: cannot listen there: {e.strerror or e}") from None
