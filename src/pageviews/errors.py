"""Every error that the user can act on, in one place.

The CLI turns a `PageviewsError` into one line on stderr and exit code 2 (`cli/main.py`). Any
other exception is a bug and keeps its traceback. `InvalidRecord` (validation/record.py) is not
here: it is a verdict on one input line that becomes a dead letter, and never reaches the CLI.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

# The project root when pageviews runs from a source checkout (the only way it is installed).
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


class PageviewsError(Exception):
    """An error explained for the user: printed as one line, never as a traceback."""


class UsageError(PageviewsError):
    """Options that do not fit together, or that the chosen runtime does not support."""


class ConfigError(PageviewsError, ValueError):
    """A setting out of its range (a window size, a rate, a duration).

    Also a ValueError, so that library callers that validate values keep working."""


class PipelineError(PageviewsError):
    """A problem with how the embedded pipeline was asked to run (another input, old state)."""


class StoreError(PageviewsError):
    """A store problem the user can act on (locked, missing, a refused query)."""


class NoDataYet(StoreError):
    """The data dir holds no database yet: nothing has run there."""


class ServiceError(PageviewsError):
    """A stack service could not start, or did not become healthy in time."""


class ServiceTimeout(ServiceError, TimeoutError):
    """A stack service or consumer did not catch up in time."""


# How much of an error body a message shows (REST errors explain themselves in far less).
BODY_SHOWN = 2000


class HttpError(PageviewsError):
    """A request to a service's REST API that got no answer (`status` None), an error status,
    or an answer that is not JSON. The message shows the start of the body; `body` keeps it."""

    def __init__(
        self, method: str, url: str, status: int | None, reason: str, body: str = ""
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.reason = reason
        self.body = body
        what = f"no answer ({reason})" if status is None else f"{status} {reason}".rstrip()
        message = f"{method} {url}: {what}"
        if body.strip():
            cut = body.strip()
            message += f": {cut[:BODY_SHOWN]}" + (" ..." if len(cut) > BODY_SHOWN else "")
        super().__init__(message)


class FetchError(PageviewsError):
    """Maven is missing or a download failed."""


class DeliveryError(PageviewsError):
    """Kafka did not acknowledge some records."""


# The modules whose absence means that an extra is not installed, per extra of pyproject.toml.
EXTRA_MODULES = {
    "kafka": ("confluent_kafka", "pymysql"),
    "dashboard": ("streamlit", "altair", "pandas"),
}


def install_command(extra: str) -> str:
    """The exact command that installs an extra into the Python that runs pageviews."""
    if (_SOURCE_ROOT / "pyproject.toml").is_file():
        target = f"-e {shlex.quote(f'{_SOURCE_ROOT}[{extra}]')}"
    else:
        target = shlex.quote(f"pageviews[{extra}]")
    return f"{shlex.quote(sys.executable)} -m pip install {target}"


class MissingExtra(PageviewsError):
    """An optional dependency group is not installed; the message gives the pip command."""

    def __init__(self, extra: str, needed_for: str, hint: str = "") -> None:
        self.extra = extra
        self.command = install_command(extra)
        message = f"{needed_for} needs the '{extra}' extra: {self.command}"
        super().__init__(message + (f" ({hint})" if hint else ""))


def _installed(module: str) -> bool:
    # Found without importing it: streamlit and pandas take seconds to import.
    if module in sys.modules:
        return sys.modules[module] is not None  # None: the import is known to fail
    return importlib.util.find_spec(module) is not None


def require_extra(extra: str, needed_for: str, hint: str = "") -> None:
    """Raise MissingExtra unless every module of the extra is installed.

    Call it before importing a module that needs the extra: that import would fail with a
    traceback that does not say what to install."""
    if not all(_installed(module) for module in EXTRA_MODULES[extra]):
        raise MissingExtra(extra, needed_for, hint)
