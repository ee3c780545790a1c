"""Run inside .venv-airflow (never the project's environment): import the DAG folder with
Airflow's DagBag and, when asked, run one DAG with `dag.test()`. Prints one JSON document.

    python airflow_runner.py DAG_FOLDER [DAG_ID]

The caller sets AIRFLOW_HOME (a migrated metadata database), the AWS endpoint and an
`aws_default` connection in the environment.
"""

from __future__ import annotations

import json
import sys


def main(folder: str, dag_id: str | None) -> dict:
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=folder, include_examples=False)
    result: dict = {
        "import_errors": {path: str(error) for path, error in bag.import_errors.items()},
        "dags": {},
    }
    for dag in bag.dags.values():
        result["dags"][dag.dag_id] = {
            "schedule": str(dag.timetable.summary),
            "tasks": {
                task.task_id: {
                    "downstream": sorted(task.downstream_task_ids),
                    "type": type(task).__name__,
                    "retries": task.retries,
                    "retry_exponential_backoff": task.retry_exponential_backoff,
                }
                for task in dag.tasks
            },
        }
    if dag_id:
        run = bag.get_dag(dag_id).test()
        result["run"] = {
            "state": str(run.state),
            "tasks": {ti.task_id: str(ti.state) for ti in run.get_task_instances()},
        }
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)))
