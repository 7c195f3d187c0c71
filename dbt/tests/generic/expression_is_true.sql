{#- Every row satisfies `expression` (rows where it is null pass: nulls are
    tested separately with not_null where they are not allowed). -#}
{% test expression_is_true(model, expression) %}

select *
from {{ model }}
where not ({{ expression }})

{% endtest %}
