{#-
    Use a model's or seed's custom schema name verbatim.

    dbt's default concatenates the target schema and the custom schema
    (`main_ref`, `main_marts`); the warehouse layout fixes the schema names
    (`ref`, `staging`, `intermediate`, `marts`, `dq`), so analysts and the
    publication step find the tables where the spec says they are.
    Nodes without a custom schema go to the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
