"""Stand-ins for dbt's cross-database macros, so sqlfluff's jinja templater renders the models.

They only need to produce plausible DuckDB SQL for linting; dbt renders the real thing.
"""


def cast(expr, type_):
    return f"cast({expr} as {type_})"


def dateadd(datepart, interval, from_date):
    return f"({from_date} + interval ({interval}) {datepart})"


def datediff(first, second, datepart):
    return f"date_diff('{datepart}', {first}, {second})"


def length(expr):
    return f"length({expr})"


def position(substring, string):
    return f"position({substring} in {string})"


def listagg(measure, delimiter_text="','", order_by_clause=None, limit_num=None):
    return f"string_agg({measure}, {delimiter_text})"


def string_literal(value):
    return f"'{value}'"
