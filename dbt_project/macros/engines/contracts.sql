-- The contracts (models/crm/_crm__models.yml) name column types as SQL and Postgres do (text,
-- timestamp with time zone, double precision), which DuckDB reads too. Spark knows none of
-- these names, and dbt checks a contract by casting null to each declared type (dbt.cast): on
-- Spark that cast maps them to Spark's own (string, timestamp, double), so the contracts stay
-- enforced there. dbt_project.yml's `dispatch` lets this project's spark__cast win over dbt's.
{% macro spark__cast(field, type) -%}
    {%- set spark_types = {
        'text': 'string',
        'timestamp with time zone': 'timestamp',
        'timestamptz': 'timestamp',
        'double precision': 'double',
    } -%}
    {%- set name = type | string | lower | trim -%}
    {%- set name = modules.re.sub('\\s+', ' ', name) -%}
    cast({{ field }} as {{ spark_types.get(name, type) }})
{%- endmacro %}


-- Unit-test fixtures write a list column as JSON text ('["10", "11"]'), which Postgres reads as
-- jsonb and DuckDB casts to varchar []. dbt-spark's fixture cast would paste that text into the
-- SQL as is (a syntax error): read it with from_json instead. Every other value as dbt-spark.
{% macro spark__safe_cast(field, type) -%}
    {%- set text = field.strip("'").strip() if field is string else '' -%}
    {%- if type.lower().startswith(('array', 'map', 'struct')) and text.startswith(('[', '{')) -%}
        from_json({{ field }}, '{{ type }}')
    {%- else -%}
        {{ dbt.spark__safe_cast(field, type) }}
    {%- endif -%}
{%- endmacro %}
