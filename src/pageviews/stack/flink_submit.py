"""Submit the rendered SQL job to a remote Flink cluster. Runs in the Flink venv, not ours.

Usage: <flink-venv>/bin/python flink_submit.py REQUEST.json. The request holds the statements,
the Flink options and `plan_file`; the job id is printed as JSON on stdout. Only the standard
library and pyflink are imported here, since the Flink venv has none of our dependencies.

Planning the job (Calcite's optimizer over a dozen views) takes most of a submission: about
20 s of 30 on this 2-core machine. So the optimized plan is kept (Flink's compiled plan, JSON)
in `plan_file`, whose name is a digest of the statements and options: the next submission of
the same job creates its tables and runs that plan, without planning again. A plan that
cannot be loaded (another Flink version, a damaged file) is planned and written again.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def main(path: str) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    request = json.loads(open(path).read())  # noqa: SIM115 - a small file, read once
    settings = EnvironmentSettings.in_streaming_mode()
    env = TableEnvironment.create(settings)
    conf = env.get_config()
    for key, value in request["options"].items():
        conf.set(key, str(value))
    plan_file = request["plan_file"]
    # The tables are temporary, so a compiled plan holds their names only: create them first.
    tables = [s for s in request["statements"] if _starts(s, "CREATE TEMPORARY TABLE")]
    for statement in tables:
        env.execute_sql(statement)
    plan, cached = None, False
    if os.path.exists(plan_file):
        try:
            plan = _load(env, plan_file)
            cached = True
            os.utime(plan_file)  # recently used: the cache keeps the newest plans
        except Exception as error:  # noqa: BLE001 - any failure means: plan it again
            print(f"cached plan {plan_file} not used: {error}", file=sys.stderr)
    if plan is None:
        plan = _compile(env, request["statements"], tables, plan_file)
    # The Java plan: pyflink's CompiledPlan.execute() fails on a loaded plan (it calls the
    # Java table environment's missing _before_execute); no Python UDF needs that step here.
    result = plan.execute()
    print(
        json.dumps({"job_id": result.getJobClient().get().getJobID().toString(), "cached": cached})
    )


def _starts(statement: str, prefix: str) -> bool:
    return statement.lstrip().upper().startswith(prefix)


def _load(env: Any, plan_file: str) -> Any:
    from pyflink.table.table_environment import PlanReference

    return env.load_plan(PlanReference.from_file(plan_file))._j_compiled_plan


def _compile(env: Any, statements: list[str], tables: list[str], plan_file: str) -> Any:
    statement_set = env.create_statement_set()
    for statement in statements:
        if _starts(statement, "INSERT"):
            statement_set.add_insert_sql(statement)
        elif statement not in tables:
            env.execute_sql(statement)
    plan = statement_set.compile_plan()
    # Written whole, then renamed: a reader never sees half a plan.
    partial = f"{plan_file}.{os.getpid()}.tmp"
    with open(partial, "w") as out:
        out.write(plan.as_json_string())
    os.replace(partial, plan_file)
    return plan._j_compiled_plan


if __name__ == "__main__":
    main(sys.argv[1])
