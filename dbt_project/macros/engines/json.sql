-- Reading JSON: the one place that knows how each engine spells it. A path is a list of keys,
-- e.g. ['metadata', 'probability']. DuckDB reads its JSON type, Postgres jsonb (the raw layer's
-- `record` there), Spark plain text (Parquet has no JSON type: get_json_object and from_json
-- parse the string on every read); a missing key or a JSON null reads as null on all three.
-- Spark writes a JSON number back as Java prints it (10000000.0 reads '1.0E7', 1e400
-- '"Infinity"'): the same value once cast, and a number out of range still fails its cast.

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

{% macro spark__json_text(json, path) -%}
    get_json_object({{ json }}, '{{ crm_kpi.spark__json_path(path) }}')
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

{#- Spark: one get_json_object (one parse) per path; an array<string>. #}
{% macro spark__json_text_list(json, paths) -%}
    {%- if paths -%}
        array(
            {%- for path in paths -%}
                {{ crm_kpi.spark__json_text(json, path) }}{{ ', ' if not loop.last }}
            {%- endfor -%}
        )
    {%- else -%}
        cast(array() as array<string>)
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

{#- Spark: a generator in a lateral subquery, so that `item.value` names the element (each one
    as JSON text, which json_text reads again); anything but an array gives no rows. #}
{% macro spark__json_array_rows(json, path) -%}
    lateral (
        select explode(
            from_json({{ crm_kpi.spark__json_text(json, path) }}, 'array<string>')
        ) as value
    )
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

{#- Spark: an array<string>, sorted by bytes as DuckDB's list_sort (Spark's default collation is
    binary); a number reads as its text, as DuckDB's json_extract_string gives it. #}
{% macro spark__json_array_distinct_texts(json, array_path, key) -%}
    coalesce(
        array_sort(array_distinct(filter(
            transform(
                from_json(
                    {{ crm_kpi.spark__json_text(json, array_path) }},
                    'array<struct<`{{ key }}`: string>>'
                ),
                element -> element.`{{ key }}`
            ),
            item -> item is not null
        ))),
        cast(array() as array<string>)
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

{#- Spark: a generator, one per select list. #}
{% macro spark__unnest_list(list) -%}
    explode({{ list }})
{%- endmacro %}


-- Paths as each engine writes them. DuckDB: '$."a"."b"' (a key with a dot or a space stays one
-- key). Postgres: a text[] literal for #>> and #>. Spark: $['a']['b'] (get_json_object's
-- bracket form keeps a key with a dot whole; it has no escape for a quote or a bracket).
{% macro duckdb__json_path(path) -%}
    {%- set keys = [path] if path is string else path -%}
    ${% for key in keys %}."{{ key | replace("'", "''") }}"{% endfor %}
{%- endmacro %}

{% macro postgres__json_path(path) -%}
    {%- set keys = [path] if path is string else path -%}
    array[{{ crm_kpi.sql_strings(keys) }}]
{%- endmacro %}

{% macro spark__json_path(path) -%}
    {%- set keys = [path] if path is string else path -%}
    {%- for key in keys if "'" in key or ']' in key -%}
        {{ exceptions.raise_compiler_error('JSON key not readable on spark: ' ~ key) }}
    {%- endfor -%}
    ${% for key in keys %}[''{{ key }}'']{% endfor %}
{%- endmacro %}


-- The JSON column type: DuckDB's json, Postgres's jsonb, Spark's string (what the sync stores
-- there).
{% macro type_json() -%}
    {{ return(adapter.dispatch('type_json', 'crm_kpi')()) }}
{%- endmacro %}

{% macro duckdb__type_json() -%}json{%- endmacro %}

{% macro postgres__type_json() -%}jsonb{%- endmacro %}

{% macro spark__type_json() -%}string{%- endmacro %}
