-- How the incremental models are kept, per engine. DuckDB and Postgres delete a key's old rows
-- and insert its new ones (delete+insert, and the pre-hooks of macros/incremental_raw.sql that
-- `delete from` the model). Spark's Parquet tables cannot delete rows (only Delta, Iceberg or
-- Hudi tables can, and none is installed), so there:
-- - the staging and intermediate models that restage changed records are rebuilt whole each
--   build (a table: is_incremental() is false, so the pre-hooks do nothing);
-- - kpi_pipeline_daily, whose past days cannot be rebuilt, is partitioned by its key and each
--   build overwrites its own day's partition (insert_overwrite, dynamic partitions), which
--   leaves every other day as it was, as delete+insert does.
-- dbt_project/README.md ("Engines") gives the reasons and the cost.

-- The materialization of a model that restages changed records (config(materialized=...)).
{% macro restaged_materialization() -%}
    {{ return(adapter.dispatch('restaged_materialization', 'crm_kpi')()) }}
{%- endmacro %}

{% macro default__restaged_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__restaged_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


-- The incremental strategy that replaces every row of a key (the build's day) and keeps the rest.
{% macro replace_key_strategy() -%}
    {{ return(adapter.dispatch('replace_key_strategy', 'crm_kpi')()) }}
{%- endmacro %}

{% macro default__replace_key_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro spark__replace_key_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}


-- The partition columns replace_key_strategy() needs: on Spark the key, elsewhere none.
{% macro replace_key_partitions(unique_key) -%}
    {{ return(adapter.dispatch('replace_key_partitions', 'crm_kpi')(unique_key)) }}
{%- endmacro %}

{% macro default__replace_key_partitions(unique_key) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__replace_key_partitions(unique_key) -%}
    {{ return([unique_key]) }}
{%- endmacro %}


-- A CTE's `not materialized` hint (DuckDB and Postgres inline such a CTE in each reader instead
-- of computing it once); Spark has no hint, and always inlines a CTE it reads more than once
-- unless told otherwise.
{% macro cte_not_materialized() -%}
    {{ return(adapter.dispatch('cte_not_materialized', 'crm_kpi')()) }}
{%- endmacro %}

{% macro default__cte_not_materialized() -%}not materialized{%- endmacro %}

{% macro spark__cte_not_materialized() -%}{%- endmacro %}
