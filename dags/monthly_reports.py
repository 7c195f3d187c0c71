"""Airflow DAG `monthly_reports`: on the 5th of each month, each province's report for the previous month.

Reads only the published tables (pub) and writes `<outbox>/<province>/<period>/report.{html,pdf}`.
See pipelines/report/dag.py.
"""

from pipelines.report.dag import build_reports_dag

dag = build_reports_dag()
