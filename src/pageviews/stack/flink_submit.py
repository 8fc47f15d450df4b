"""Submit the rendered SQL job to a remote Flink cluster. Runs in the Flink venv, not ours.

Usage: <flink-venv>/bin/python flink_submit.py REQUEST.json. The request holds the statements
and the Flink options; the job id is printed as JSON on stdout. Only the standard library and
pyflink are imported here, since the Flink venv has none of our dependencies.
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    from pyflink.table import EnvironmentSettings, TableEnvironment

    request = json.loads(open(path).read())  # noqa: SIM115 - a small file, read once
    settings = EnvironmentSettings.in_streaming_mode()
    env = TableEnvironment.create(settings)
    conf = env.get_config()
    for key, value in request["options"].items():
        conf.set(key, str(value))
    statement_set = env.create_statement_set()
    for statement in request["statements"]:
        if statement.lstrip().upper().startswith("INSERT"):
            statement_set.add_insert_sql(statement)
        else:
            env.execute_sql(statement)
    result = statement_set.execute()
    client = result.get_job_client()
    job_id = str(client.get_job_id()) if client is not None else ""
    print(json.dumps({"job_id": job_id}))


if __name__ == "__main__":
    main(sys.argv[1])
