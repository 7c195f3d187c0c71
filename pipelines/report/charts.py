"""The report's charts as PNG bytes (matplotlib, Agg), drawn with a CJK font.

Labels are Chinese, so the charts need a font with CJK glyphs: without one
matplotlib draws empty boxes and the report looks broken. `cjk_font` finds one
through matplotlib's font manager (Noto Sans CJK SC or WenQuanYi, from Debian's
fonts-noto-cjk / fonts-wqy-microhei, which `make setup` installs) and fails with
a message saying how to install it rather than rendering boxes.

Confidential cells (C/D) have no value: they are drawn as gaps (NaN breaks a line,
a missing bar) labelled with their code, and each chart returns a note listing
them, so a reader never takes a gap for a zero.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; set before anything imports pyplot

from matplotlib import font_manager
from matplotlib.figure import Figure

from pipelines.report.data import AGE_COHORTS, CONFIDENTIAL, Row

# Families with full simplified-Chinese coverage, best first.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",  # same glyph set as SC in the .ttc; SC is preferred for Chinese forms
)
FILE_HINTS = ("notosanscjk", "notosanssc", "sourcehansans", "wqy", "wenquanyi")
INSTALL_HINT = (
    "no CJK font found: the report's Chinese text would render as boxes. Install one, e.g. "
    "`apt-get install fonts-noto-cjk` (as root; `make setup` does it), then retry"
)

DPI = 200
WORKERS_COLOUR = "#1f4e79"
INCOME_COLOUR = "#c55a11"
GENDER_COLOURS = {"F": "#c0504d", "M": "#4f81bd", "U": "#9e9e9e"}
GENDER_LABELS = {"F": "女 F", "M": "男 M", "U": "未知 U"}
GREY = "#7f7f7f"


class MissingCJKFont(RuntimeError):
    """No font with Chinese glyphs is installed; the report would show boxes instead of text."""


@dataclass(frozen=True)
class Chart:
    """One rendered chart and the note the template prints under it (which points are confidential)."""

    png: bytes
    note: str | None


@cache
def cjk_font() -> str:
    """The family name of an installed CJK font, as matplotlib (and fontconfig) know it.

    matplotlib caches its font list; a font installed after that cache was built is
    missing from it, so when the cached list has none we scan the system font
    folders once and register what looks like a CJK font.
    """
    found = _known_cjk_family()
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(hint in path.lower().replace("-", "").replace("_", "") for hint in FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        found = _known_cjk_family()
    if found is None:
        raise MissingCJKFont(INSTALL_HINT)
    return found


def _known_cjk_family() -> str | None:
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in names), None)


def _figure(width: float, height: float) -> Figure:
    """A figure (no pyplot: no global state, safe in a long-lived Airflow worker) using the CJK font."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return figure


def _style() -> dict[str, Any]:
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [cjk_font(), "DejaVu Sans"],
        "axes.unicode_minus": False,  # CJK fonts may lack U+2212
        "font.size": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
    }


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _value(row: Row | None, column: str) -> float:
    """A plottable number: NaN for a missing row, a confidential cell or a null measure (drawn as a gap)."""
    if row is None or row.get(column) is None:
        return math.nan
    return float(row[column])


def _confidential_note(points: Sequence[tuple[str, Row | None]]) -> str | None:
    hidden = [f"{label} ({row['conf_status']})" for label, row in points if row and row["conf_status"] in CONFIDENTIAL]
    if not hidden:
        return None
    return "保密数据不显示，图中为空缺 / Confidential, shown as gaps: " + ", ".join(hidden)


def trend_chart(trend: Sequence[tuple[str, Row | None]]) -> Chart:
    """Active workers and median net income over the last 12 months, provisional months shaded."""
    with matplotlib.rc_context(_style()):
        figure = _figure(7.0, 2.9)
        top, bottom = figure.subplots(2, 1, sharex=True)
        periods = [period for period, _ in trend]
        x = list(range(len(periods)))
        for axis, column, colour, title in (
            (top, "active_workers", WORKERS_COLOUR, "活跃劳动者（人）Active workers"),
            (bottom, "median_net_income", INCOME_COLOUR, "月净收入中位数（元）Median net income, CNY"),
        ):
            values = [_value(row, column) for _, row in trend]
            axis.plot(x, values, color=colour, marker="o", markersize=3, linewidth=1.6)
            axis.set_title(title, loc="left", fontsize=8.5)
            axis.grid(axis="y", color="#e0e0e0", linewidth=0.6)
            finite = [v for v in values if not math.isnan(v)]
            axis.set_ylim(0, max(finite) * 1.18 if finite else 1)
            for i, (_, row) in enumerate(trend):
                if row and row["conf_status"] in CONFIDENTIAL:
                    axis.annotate(
                        row["conf_status"],
                        (i, 0),
                        xytext=(0, 3),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        color=GREY,
                        fontsize=7,
                        fontweight="bold",
                    )
                if row and row.get("status") == "P":
                    axis.axvspan(i - 0.5, i + 0.5, color="#fff2cc", zorder=0, linewidth=0)
        bottom.set_xticks(x, [p[2:] for p in periods], fontsize=7)
        bottom.set_xlim(-0.5, len(periods) - 0.5)
        if any(row and row.get("status") == "P" for _, row in trend):
            top.text(
                1.0,
                1.02,
                "黄色 = P 初步数据 provisional",
                transform=top.transAxes,
                ha="right",
                va="bottom",
                fontsize=7,
                color="#7f6000",
            )
        return Chart(_png(figure), _confidential_note(trend))


def cohort_gender_chart(cells: dict[tuple[str, str], Row]) -> Chart:
    """Active workers by age cohort, one bar per gender; a confidential bar is an empty slot marked C/D."""
    genders = [g for g in ("F", "M", "U") if any((c, g) in cells for c in AGE_COHORTS)]
    with matplotlib.rc_context(_style()):
        figure = _figure(7.0, 2.8)
        axis = figure.subplots()
        width = 0.8 / max(len(genders), 1)
        hidden: list[tuple[str, Row | None]] = []
        plotted = [cells.get((c, g)) for c in AGE_COHORTS for g in genders]  # not the ALL totals
        tallest = max(
            (_value(r, "active_workers") for r in plotted if r and r.get("active_workers") is not None), default=1.0
        )
        for j, gender in enumerate(genders):
            xs = [i + (j - (len(genders) - 1) / 2) * width for i in range(len(AGE_COHORTS))]
            rows = [cells.get((cohort, gender)) for cohort in AGE_COHORTS]
            heights = [_value(row, "active_workers") for row in rows]
            axis.bar(
                xs,
                [0 if math.isnan(h) else h for h in heights],
                width=width * 0.92,
                color=GENDER_COLOURS[gender],
                label=GENDER_LABELS[gender],
            )
            for x, cohort, row in zip(xs, AGE_COHORTS, rows, strict=True):
                if row and row["conf_status"] in CONFIDENTIAL:
                    axis.text(
                        x,
                        tallest * 0.01,
                        row["conf_status"],
                        ha="center",
                        va="bottom",
                        color=GREY,
                        fontsize=7,
                        fontweight="bold",
                    )
                    hidden.append((f"{cohort} {gender}", row))
        axis.set_xticks(range(len(AGE_COHORTS)), [f"{c} 岁" for c in AGE_COHORTS])
        axis.set_title(
            "按年龄组和性别的活跃劳动者（人）Active workers by age cohort and gender", loc="left", fontsize=8.5
        )
        axis.set_ylim(0, tallest * 1.15)
        axis.grid(axis="y", color="#e0e0e0", linewidth=0.6)
        axis.legend(frameon=False, ncols=len(genders), loc="upper right", fontsize=7)
        return Chart(_png(figure), _confidential_note(hidden))


def occupation_chart(rows: Sequence[Row]) -> Chart | None:
    """Open postings and vacancies by occupation (place of work in the province); None without occupations."""
    if not rows:
        return None
    shown = list(rows)[:12]
    with matplotlib.rc_context(_style()):
        figure = _figure(7.0, 0.5 + 0.28 * len(shown))
        axis = figure.subplots()
        y = list(range(len(shown)))[::-1]
        labels = [row.get("name_zh") or row["occupation_code"] for row in shown]
        opens = [_value(row, "open_postings") for row in shown]
        vacancies = [_value(row, "vacancies") for row in shown]
        axis.barh(
            [v + 0.2 for v in y],
            [0 if math.isnan(v) else v for v in vacancies],
            height=0.4,
            color="#a9c4e4",
            label="岗位空缺 Vacancies",
        )
        axis.barh(
            [v - 0.2 for v in y],
            [0 if math.isnan(v) else v for v in opens],
            height=0.4,
            color=WORKERS_COLOUR,
            label="在招岗位 Open postings",
        )
        widest = max([v for v in vacancies + opens if not math.isnan(v)], default=1.0)
        for yy, row in zip(y, shown, strict=True):
            if row["conf_status"] in CONFIDENTIAL:
                axis.text(
                    widest * 0.01, yy, f"{row['conf_status']} 保密 confidential", va="center", color=GREY, fontsize=7
                )
        axis.set_yticks(y, labels)
        axis.set_xlim(0, widest * 1.1)
        axis.grid(axis="x", color="#e0e0e0", linewidth=0.6)
        axis.set_title("按职业的用工需求 Labour demand by occupation", loc="left", fontsize=8.5)
        axis.legend(frameon=False, loc="lower right", fontsize=7)
        note = _confidential_note([(row.get("name_zh") or row["occupation_code"], row) for row in shown])
        return Chart(_png(figure), note)
