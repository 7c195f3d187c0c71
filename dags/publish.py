"""Airflow DAG `publish`: after `transform`, disclosure-control the marts and record a release in `pub`.

Scheduled on the marts asset; `flexemp run` runs it in-process right after
`transform`. See pipelines/dag_factory.py and docs/disclosure-control.md.
"""

from pipelines.dag_factory import build_publish_dag

dag = build_publish_dag()
