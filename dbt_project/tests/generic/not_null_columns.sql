-- Fails for every row where one of `columns` is null: not_null for many columns in one query.
{% test not_null_columns(model, columns) %}

    select *
    from {{ model }}
    where
        false
        {%- for column in columns %} or {{ column }} is null{% endfor %}

{% endtest %}
