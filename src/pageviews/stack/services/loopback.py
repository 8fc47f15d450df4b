"""A preload library that keeps a service's wildcard binds on the loopback address.

Pinot 0.11's server has no setting for the address of its Netty query port, which then listens
on every interface. The server is started with LD_PRELOAD set to this library
(loopback_bind.c), built once with the C compiler into the cache, under a name that holds a
hash of its source.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from pageviews.settings import cache_dir
from pageviews.stack.services import debian
from pageviews.stack.services.process import ServiceError

SOURCE = Path(__file__).with_name("loopback_bind.c")
# gcc needs the C library's headers too.
BUILD_PACKAGES = ["gcc", "libc6-dev"]


def library_path() -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return cache_dir() / "loopback" / f"loopback-bind-{digest}.so"


def build(say: Callable[[str], None]) -> Path:
    """The library, compiled now if the cache has none for this source."""
    target = library_path()
    if target.exists():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None and debian.can_install():
        debian.install(BUILD_PACKAGES, say)
        compiler = shutil.which("gcc")
    if compiler is None:
        raise ServiceError(
            "a C compiler is needed to keep Pinot's server on 127.0.0.1: "
            f"apt-get install -y {' '.join(BUILD_PACKAGES)}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    command = [compiler, "-shared", "-fPIC", "-O2", "-o", str(partial), str(SOURCE), "-ldl"]
    result = subprocess.run(  # noqa: S603 - our own source, a fixed command
        command, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ServiceError(f"building {SOURCE.name} failed:\n{result.stderr[-2000:]}")
    partial.replace(target)
    return target
