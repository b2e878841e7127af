-- Use the folder's schema name as is (staging, intermediate, marts), not "<target>_<schema>",
-- after the schema prefix (CRM_KPI_SCHEMA_PREFIX: '' in a DuckDB file of its own, e.g.
-- 'crm_kpi_' in a shared Postgres database, so crm_kpi_marts).
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ schema_prefix() }}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}


-- What every schema of the project, and the sync's raw schema (<prefix>raw), starts with. The
-- sources' yml reads the same variable (yml cannot call macros).
{% macro schema_prefix() -%}
    {{ return(env_var('CRM_KPI_SCHEMA_PREFIX', '') | trim) }}
{%- endmacro %}
