"""Render a province's monthly report to HTML and PDF, and every province's into an outbox.

Layout: `<out_dir>/<province_code>/<period>/report.html` and `report.pdf`. The
HTML is self-contained (charts embedded as PNG data URIs) so it can be mailed or
opened offline; the PDF is what bureaus file. Both files are written to a
temporary name and renamed, so whoever picks reports up from the outbox never
sees half a file.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pipelines.report import charts
from pipelines.report.data import (
    AGE_COHORTS,
    CONFIDENTIAL,
    GENDERS,
    TOTAL,
    ReportData,
    column_definitions,
    load_report_data,
    published_provinces,
)

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class ReportResult:
    """What was written for one province and month (the CLI and the DAG print it)."""

    province_code: str
    province_name: str
    period: str
    status: str | None  # P provisional / F final
    release_id: str | None
    html: Path
    pdf: Path


def render_report(warehouse: Path, period: str, region: str, out_dir: Path) -> ReportResult:
    """Render one province's report for `period` from the published tables of `warehouse`."""
    family = _check_fonts()
    data = load_report_data(warehouse, period, region)
    html = render_html(data, family)
    folder = out_dir / data.province.code / data.period
    folder.mkdir(parents=True, exist_ok=True)
    html_path, pdf_path = folder / "report.html", folder / "report.pdf"
    _write_atomic(html_path, html.encode("utf-8"))
    _write_atomic(pdf_path, html_to_pdf(html, folder))
    return ReportResult(
        province_code=data.province.code,
        province_name=data.province.name,
        period=data.period,
        status=data.status,
        release_id=data.release.release_id,
        html=html_path,
        pdf=pdf_path,
    )


def render_all(warehouse: Path, period: str, outbox: Path) -> list[ReportResult]:
    """One report per province with published figures in `period`, each into `<outbox>/<province_code>/`."""
    _check_fonts()
    return [render_report(warehouse, period, p.code, outbox) for p in published_provinces(warehouse, period)]


def render_html(data: ReportData, font_family: str) -> str:
    """The report as one self-contained HTML page (charts inlined)."""
    trend = charts.trend_chart(data.trend)
    cohorts = charts.cohort_gender_chart(data.cohort_gender)
    occupations = charts.occupation_chart(data.demand_by_occupation)
    template = _environment().get_template(TEMPLATE)
    return template.render(
        d=data,
        font_family=font_family,
        charts={"trend": trend, "cohorts": cohorts, "occupations": occupations},
        definitions=column_definitions(),
        age_cohorts=(*AGE_COHORTS, TOTAL),
        genders=(*GENDERS, TOTAL),
        confidential=CONFIDENTIAL,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
    )


def html_to_pdf(html: str, base: Path) -> bytes:
    """PDF bytes of the HTML page (weasyprint; fonts through fontconfig, as checked in _check_fonts)."""
    import weasyprint

    return weasyprint.HTML(string=html, base_url=str(base)).write_pdf()


def _check_fonts() -> str:
    """The CJK family both renderers will use; stop before rendering boxes if there is none.

    matplotlib (charts) and weasyprint (text, through fontconfig) find fonts
    separately, so both must know a CJK font.
    """
    family = charts.cjk_font()
    if shutil.which("fc-list"):
        listed = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
        if not listed.stdout.strip():
            raise charts.MissingCJKFont(charts.INSTALL_HINT + " (fontconfig lists no font for :lang=zh)")
    return family


def _write_atomic(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=format_number, png_uri=png_uri, css_string=css_string)
    return env


def format_number(value: Any, kind: str) -> str:
    """A published value as the bureaus read it: thousands separators, CNY without decimals, shares in %."""
    if value is None:
        return "–"
    number = float(value)
    if kind == "count":
        return f"{number:,.0f}"
    if kind == "cny":
        return f"{number:,.0f}"
    if kind == "share":
        return f"{number:.1%}"
    if kind == "ratio":
        return f"{number:.2f}"
    if kind == "decimal":
        return f"{number:,.1f}"
    raise ValueError(f"unknown number kind {kind!r}")


def png_uri(png: bytes) -> str:
    """A data URI, so the HTML carries its charts with it."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def css_string(value: Any) -> Markup:
    """A value quoted for a CSS `content:` string (the page footer).

    Returned as Markup: HTML autoescaping would turn the quotes into entities,
    which CSS does not read, and the footer would silently disappear.
    """
    if isinstance(value, date | datetime):
        value = value.isoformat()
    text = "" if value is None else str(value)
    quoted = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ").replace("\n", " ")
    return Markup(f'"{quoted}"')  # safe inside <style>: no quote or "<" can end the string or the element
