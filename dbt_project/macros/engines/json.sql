-- Reading JSON: the one place that knows how each engine spells it. A path is a list of keys,
-- e.g. ['metadata', 'probability']. DuckDB reads its JSON type, Postgres jsonb (the raw layer's
-- `record` there); a missing key or a JSON null reads as null on both.

-- A JSON value at `path` as text (strings unquoted, numbers and booleans as written).
{% macro json_text(json, path) -%}
    {{ return(adapter.dispatch('json_text', 'crm_kpi')(json, path)) }}
{%- endmacro %}

{% macro duckdb__json_text(json, path) -%}
    json_extract_string({{ json }}, '{{ crm_kpi.duckdb__json_path(path) }}')
{%- endmacro %}

{% macro postgres__json_text(json, path) -%}
    ({{ json }} #>> {{ crm_kpi.postgres__json_path(path) }})
{%- endmacro %}


-- The values at several paths in one read, as a list of text in the same order (DuckDB parses
-- the JSON once for all of them; Postgres walks the stored jsonb once per path).
{% macro json_text_list(json, paths) -%}
    {{ return(adapter.dispatch('json_text_list', 'crm_kpi')(json, paths)) }}
{%- endmacro %}

{% macro duckdb__json_text_list(json, paths) -%}
    {%- if paths -%}
        json_extract_string({{ json }}, [
            {%- for path in paths -%}
                '{{ crm_kpi.duckdb__json_path(path) }}'{{ ', ' if not loop.last }}
            {%- endfor -%}
        ])
    {%- else -%}
        cast([] as varchar [])
    {%- endif -%}
{%- endmacro %}

{% macro postgres__json_text_list(json, paths) -%}
    {%- if paths -%}
        array[
            {%- for path in paths -%}
                {{ crm_kpi.postgres__json_text(json, path) }}{{ ', ' if not loop.last }}
            {%- endfor -%}
        ]
    {%- else -%}
        cast(array[] as text [])
    {%- endif -%}
{%- endmacro %}


-- The elements of the JSON array at `path`, as a FROM item (`cross join json_array_rows(..)
-- as item`), each element then `item.value` (JSON). No rows when the path is missing or null.
{% macro json_array_rows(json, path) -%}
    {{ return(adapter.dispatch('json_array_rows', 'crm_kpi')(json, path)) }}
{%- endmacro %}

{% macro duckdb__json_array_rows(json, path) -%}
    json_each({{ json }}, '{{ crm_kpi.duckdb__json_path(path) }}')
{%- endmacro %}

{% macro postgres__json_array_rows(json, path) -%}
    {%- set array = json ~ ' #> ' ~ crm_kpi.postgres__json_path(path) -%}
    jsonb_array_elements(case when jsonb_typeof({{ array }}) = 'array' then {{ array }} end)
{%- endmacro %}


-- The distinct values of `key` over the objects of the JSON array at `array_path`, sorted, as a
-- list: [] when the array is missing; nulls are dropped. A list of text on DuckDB (varchar []), a
-- jsonb array of strings on Postgres: dbt-postgres cannot type an array column (its type reads
-- as ARRAY), which unit-test fixtures and on_schema_change need. Read it with unnest_list().
{% macro json_array_distinct_texts(json, array_path, key) -%}
    {{ return(adapter.dispatch('json_array_distinct_texts', 'crm_kpi')(json, array_path, key)) }}
{%- endmacro %}

{% macro duckdb__json_array_distinct_texts(json, array_path, key) -%}
    list_sort(list_distinct(
        json_extract_string(
            {{ json }}, '$.{{ array_path | join('.') }}[*].{{ key }}'
        )
    ))
{%- endmacro %}

{% macro postgres__json_array_distinct_texts(json, array_path, key) -%}
    (
        select coalesce(jsonb_agg(ids.item order by ids.item), '[]'::jsonb)
        from (
            select distinct (element.value ->> '{{ key }}') collate "C" as item
            from {{ crm_kpi.postgres__json_array_rows(json, array_path) }} as element
            where element.value ->> '{{ key }}' is not null
        ) as ids
    )
{%- endmacro %}


-- One row per element of a list made by json_array_distinct_texts, in a select list (a set-
-- returning function, like unnest).
{% macro unnest_list(list) -%}
    {{ return(adapter.dispatch('unnest_list', 'crm_kpi')(list)) }}
{%- endmacro %}

{% macro duckdb__unnest_list(list) -%}
    unnest({{ list }})
{%- endmacro %}

{% macro postgres__unnest_list(list) -%}
    jsonb_array_elements_text({{ list }})
{%- endmacro %}


-- Paths as each engine writes them. DuckDB: '$."a"."b"' (a key with a dot or a space stays one
-- key). Postgres: a text[] literal for #>> and #>.
{% macro duckdb__json_path(path) -%}
    {%- set keys = [path] if path is string else path -%}
    ${% for key in keys %}."{{ key | replace("'", "''") }}"{% endfor %}
{%- endmacro %}

{% macro postgres__json_path(path) -%}
    {%- set keys = [path] if path is string else path -%}
    array[{{ crm_kpi.sql_strings(keys) }}]
{%- endmacro %}


-- The JSON column type: DuckDB's json, Postgres's jsonb (what the sync stores there).
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'crm_kpi')()) }}
{%- endmacro %}

{% macro duckdb__type_json() -%}json{%- endmacro %}

{% macro postgres__type_json() -%}jsonb{%- endmacro %}
