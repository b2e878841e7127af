-- Text: regular expressions, list literals and byte-order sorting, per engine.

-- Whether the whole of `expression` matches `pattern` (a regular expression without anchors).
{% macro regex_full_match(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'crm_kpi')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_full_match(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regex_full_match(expression, pattern) -%}
    ({{ expression }} ~ '^(?:{{ pattern }})$')
{%- endmacro %}


-- Whether `expression` contains a match of `pattern` (anchor it with ^ or $ where meant).
{% macro regex_contains(expression, pattern) -%}
    {{ return(adapter.dispatch('regex_contains', 'crm_kpi')(expression, pattern)) }}
{%- endmacro %}

{% macro duckdb__regex_contains(expression, pattern) -%}
    regexp_matches({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__regex_contains(expression, pattern) -%}
    ({{ expression }} ~ '{{ pattern }}')
{%- endmacro %}


-- A list literal of strings, e.g. ['a', 'b']::varchar [] (DuckDB) or array['a', 'b']::text []
-- (Postgres), to unnest.
{% macro varchar_list(values) -%}
    {{ return(adapter.dispatch('varchar_list', 'crm_kpi')(values)) }}
{%- endmacro %}

{% macro duckdb__varchar_list(values) -%}
    [{{ crm_kpi.sql_strings(values) }}]::varchar []
{%- endmacro %}

{% macro postgres__varchar_list(values) -%}
    array[{{ crm_kpi.sql_strings(values) }}]::text []
{%- endmacro %}


-- Text ordered by its bytes, as DuckDB orders it, for `order by` where the order shows in the
-- output (row numbers, first of ties): Postgres would use the database's collation (en_US sorts
-- 'b' before 'C').
{% macro byte_order(expression) -%}
    {{ return(adapter.dispatch('byte_order', 'crm_kpi')(expression)) }}
{%- endmacro %}

{% macro duckdb__byte_order(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__byte_order(expression) -%}
    {{ expression }} collate "C"
{%- endmacro %}
