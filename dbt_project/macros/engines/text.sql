-- Text: regular expressions, list literals and byte-order sorting, per engine. Spark reads a
-- backslash in a string literal as an escape: its patterns get theirs doubled (spark_regex).

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

{% macro spark__regex_full_match(expression, pattern) -%}
    ({{ expression }} rlike '^(?:{{ crm_kpi.spark_regex(pattern) }})$')
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

{% macro spark__regex_contains(expression, pattern) -%}
    ({{ expression }} rlike '{{ crm_kpi.spark_regex(pattern) }}')
{%- endmacro %}

{% macro spark_regex(pattern) -%}
    {{ return(pattern | replace('\\', '\\\\')) }}
{%- endmacro %}


-- A list literal of strings, e.g. ['a', 'b']::varchar [] (DuckDB), array['a', 'b']::text []
-- (Postgres) or array('a', 'b') (Spark), to unnest.
{% macro varchar_list(values) -%}
    {{ return(adapter.dispatch('varchar_list', 'crm_kpi')(values)) }}
{%- endmacro %}

{% macro duckdb__varchar_list(values) -%}
    [{{ crm_kpi.sql_strings(values) }}]::varchar []
{%- endmacro %}

{% macro postgres__varchar_list(values) -%}
    array[{{ crm_kpi.sql_strings(values) }}]::text []
{%- endmacro %}

{% macro spark__varchar_list(values) -%}
    cast(array({{ crm_kpi.sql_strings(values) }}) as array<string>)
{%- endmacro %}


-- Lists of the same length side by side, one row per position, in a select list: `columns` is a
-- list of (list expression, column name). DuckDB and Postgres zip several unnest() of one
-- select list; Spark allows one generator per select list, so it zips the lists first.
{% macro unnest_side_by_side(columns) -%}
    {{ return(adapter.dispatch('unnest_side_by_side', 'crm_kpi')(columns)) }}
{%- endmacro %}

{% macro default__unnest_side_by_side(columns) -%}
    {%- for list, name in columns -%}
        unnest({{ list }}) as {{ name }}{{ ',\n' if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{% macro spark__unnest_side_by_side(columns) -%}
    inline(arrays_zip(
        {%- for list, name in columns -%}
            {{ list }}{{ ', ' if not loop.last }}
        {%- endfor -%}
    )) as (
        {%- for list, name in columns -%}
            {{ name }}{{ ', ' if not loop.last }}
        {%- endfor -%}
    )
{%- endmacro %}


-- string_agg of `expression` in the order of `order_by`: DuckDB and Postgres take the order
-- inside the call, Spark as `within group`.
{% macro string_agg_ordered(expression, delimiter, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered', 'crm_kpi')(expression, delimiter, order_by)) }}
{%- endmacro %}

{% macro default__string_agg_ordered(expression, delimiter, order_by) -%}
    string_agg({{ expression }}, '{{ delimiter }}' order by {{ order_by }})
{%- endmacro %}

{% macro spark__string_agg_ordered(expression, delimiter, order_by) -%}
    string_agg({{ expression }}, '{{ delimiter }}') within group (order by {{ order_by }})
{%- endmacro %}


-- Text ordered by its bytes, as DuckDB orders it, for `order by` where the order shows in the
-- output (row numbers, first of ties): Postgres would use the database's collation (en_US sorts
-- 'b' before 'C'). Spark's default collation (UTF8_BINARY) is byte order already.
{% macro byte_order(expression) -%}
    {{ return(adapter.dispatch('byte_order', 'crm_kpi')(expression)) }}
{%- endmacro %}

{% macro duckdb__byte_order(expression) -%}
    {{ expression }}
{%- endmacro %}

{% macro postgres__byte_order(expression) -%}
    {{ expression }} collate "C"
{%- endmacro %}

{% macro spark__byte_order(expression) -%}
    {{ expression }}
{%- endmacro %}


-- The text type, for casts: `text`, or Spark's `string` (it knows no `text`).
{% macro type_text() -%}
    {{ return(adapter.dispatch('type_text', 'crm_kpi')()) }}
{%- endmacro %}

{% macro default__type_text() -%}text{%- endmacro %}

{% macro spark__type_text() -%}string{%- endmacro %}
