"""Submit, watch and cancel the page-view job on a Flink cluster, by its REST address.

The SQL is rendered here (flink_sql.py) and handed to a small script that runs in the Flink
venv (flink_submit.py), which submits it remotely with PyFlink and prints the job id.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from pageviews.config import WindowConfig
from pageviews.stack import flink_sql
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services import flink
from pageviews.stack.services.process import ServiceError

TERMINAL = {"FINISHED", "FAILED", "CANCELED"}


def job_options(config: StackConfig, name: str) -> dict[str, str]:
    f = config.flink
    return {
        "execution.target": "remote",
        "rest.address": HOST,
        "rest.port": str(f.rest_port),
        "pipeline.name": name,
        "pipeline.jars": flink.kafka_connector_jar(config).as_uri(),
        "parallelism.default": str(f.parallelism),
        "table.local-time-zone": "UTC",
        "execution.checkpointing.interval": f"{f.checkpoint_interval_ms} ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        # No mini-batch: its assigner replaces the watermarks that CURRENT_WATERMARK reads, and
        # page views were reported late that the windows still counted.
        "table.exec.mini-batch.enabled": "false",
        # The validated page views feed a dozen branches. Without this, the planner merges the
        # validation (JSON parsing, regular expressions) into each branch's Calc and runs it a
        # dozen times per record; with it, shared views are planned (and run) once.
        "table.optimizer.reuse-optimize-block-with-digest-enabled": "true",
        # Chained operators hand rows on without a copy each (safe for SQL operators).
        "pipeline.object-reuse": "true",
    }


def submit_job(
    config: StackConfig,
    windows: WindowConfig,
    bounded: bool,
    name: str = "pageviews",
    group_id: str = "pageviews-flink",
) -> str:
    """Submit the job; return its id. `bounded` reads the topics up to their current end."""
    request = job_request(config, windows, bounded, name, group_id)
    script = Path(__file__).with_name("flink_submit.py")
    with tempfile.TemporaryDirectory(prefix="pageviews-flink-") as tmp:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request))
        env = {
            **os.environ,
            "FLINK_CONF_DIR": str(flink.conf_dir(config)),
            "PYTHONPATH": "",
        }
        result = subprocess.run(  # noqa: S603 - our own script and venv
            [str(flink.venv_python(config)), str(script), str(path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
            check=False,
            timeout=900,  # a JVM start and a plan: minutes on a loaded 2-core machine
        )
    if result.returncode != 0:
        # Java stack frames say little; keep the messages and "Caused by" lines.
        lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("\tat ")]
        raise ServiceError("submitting the Flink job failed:\n" + "\n".join(lines)[-6000:])
    last = result.stdout.strip().splitlines()[-1]
    return str(json.loads(last)["job_id"])


# Compiled plans kept in the cache (2 MB each): the newest ones.
KEPT_PLANS = 20


def job_request(
    config: StackConfig, windows: WindowConfig, bounded: bool, name: str, group_id: str
) -> dict[str, Any]:
    """What flink_submit.py reads: the statements, the options, and where the job's compiled
    plan is kept. Its name is a digest of what the plan depends on, so that a change of SQL,
    options or Flink version plans anew. Neither the job's name nor its consumer group (also
    the prefix of its transactional ids) is in the plan: a test or a bench with a group of
    its own still finds it."""
    statements = flink_sql.statements(config, windows, bounded, group_id)
    options = job_options(config, name)
    planned = {k: v for k, v in options.items() if k != "pipeline.name"}
    key = [config.flink.version, [s.replace(group_id, "?") for s in statements], planned]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    directory = config.cache / "flink-plans"
    directory.mkdir(parents=True, exist_ok=True)
    for old in sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)[:-KEPT_PLANS]:
        old.unlink(missing_ok=True)
    return {
        "statements": statements,
        "options": options,
        "plan_file": str(directory / f"{digest}.json"),
    }


def job_status(config: StackConfig, job_id: str) -> str:
    """The job's state: RUNNING, FINISHED, FAILED, CANCELED, RESTARTING, ..."""
    return str(flink.rest(config, "GET", f"/jobs/{job_id}")["state"])


def job_details(config: StackConfig, job_id: str) -> dict[str, Any]:
    return dict(flink.rest(config, "GET", f"/jobs/{job_id}"))


def list_jobs(config: StackConfig) -> list[dict[str, Any]]:
    return list(flink.rest(config, "GET", "/jobs")["jobs"])


def cancel_job(config: StackConfig, job_id: str) -> None:
    flink.rest(config, "PATCH", f"/jobs/{job_id}?mode=cancel")


def wait_finished(config: StackConfig, job_id: str, timeout_s: float = 300.0) -> str:
    """Wait until the job reaches a terminal state; raise if it is not FINISHED."""
    deadline = time.monotonic() + timeout_s
    state = ""
    while time.monotonic() < deadline:
        state = job_status(config, job_id)
        if state in TERMINAL:
            break
        time.sleep(1.0)
    if state != "FINISHED":
        exceptions = flink.rest(config, "GET", f"/jobs/{job_id}/exceptions")
        root = str((exceptions or {}).get("root-exception", ""))[:3000]
        raise ServiceError(f"Flink job {job_id} is {state or 'unknown'}:\n{root}")
    return state
