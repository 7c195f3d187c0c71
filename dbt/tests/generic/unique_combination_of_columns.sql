{#- The grain test: no two rows share the same values in `combination`
    (dbt_utils has one; the package hub is out of reach, so the project keeps its own). -#}
{% test unique_combination_of_columns(model, combination) %}

select {{ combination | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1

{% endtest %}
