-- Fails for every row where one of `columns` lies outside [min_value, max_value] (bounds
-- optional; nulls pass). One query for many columns: a build runs every test on every run.
{% test columns_in_range(model, columns, min_value=none, max_value=none) %}

    select *
    from {{ model }}
    where
        false
        {%- for column in columns %}
        {%- if min_value is not none %} or {{ column }} < {{ min_value }}{% endif %}
        {%- if max_value is not none %} or {{ column }} > {{ max_value }}{% endif %}
        {%- endfor %}

{% endtest %}
