"""Debian packages that the stack needs, installed with apt-get when missing (as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from pageviews.stack.services.process import ServiceError


def can_install() -> bool:
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def install(packages: list[str], say: Callable[[str], None]) -> None:
    """apt-get install `packages`. A policy-rc.d that denies every start keeps a package from
    starting a system service; an existing policy-rc.d is left as it is."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ServiceError(f"install as root: apt-get install -y {' '.join(packages)}")
    policy = Path("/usr/sbin/policy-rc.d")
    made_policy = not policy.exists()
    if made_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    say(f"installing Debian's {', '.join(packages)} (apt-get) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        for args in (["update", "-q"], ["install", "-y", "-q", *packages]):
            result = subprocess.run(  # noqa: S603 - fixed apt-get arguments
                [str(apt), *args], capture_output=True, text=True, env=env, check=False
            )
            if result.returncode != 0:
                raise ServiceError(f"apt-get {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    finally:
        if made_policy:
            policy.unlink(missing_ok=True)
