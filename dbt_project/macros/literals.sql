-- SQL literals from lists of values.

-- String literals for `in (...)`: 'a', 'b'.
{% macro sql_strings(values) -%}
    {%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ', ' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

