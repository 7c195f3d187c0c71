"""Stand-in for dbt's `api.Column.translate_type` (sqlfluff linting only)."""


class Column:
    @staticmethod
    def translate_type(type_):
        return type_
