-- One timestamp per dbt invocation, so every mart built together carries the same as_of.
{% macro kpi_as_of() -%}
    cast('{{ run_started_at.isoformat() }}' as timestamptz)
{%- endmacro %}
