"""Monthly reports for provincial human-resources bureaus, built from the published tables only.

    pub.* ──► data.py (read-only queries) ──► charts.py (matplotlib, CJK font)
                                         └──► templates/report.html.j2 ──► render.py (HTML + PDF)

Reports leave the office, so they read nothing but `pub` (indicators.md,
"Publication rules"): confidential cells arrive with null measures and their
conf_status, and are printed as confidential, never as 0. Definitions are read
from the dbt model docs, not restated here.

This package imports nothing heavy at the top, so the Airflow DAG file that uses
`pipelines.report.dag` stays cheap to parse.
"""
