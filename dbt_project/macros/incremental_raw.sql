-- Large staging tables (deals, activities) parse each raw record's JSON once, then only the
-- records the sync stored since the last build (raw `loaded_at`): parsing JSON is most of a build.

-- The rows of a raw table to (re)stage: all on a first build, else those loaded since the last.
{% macro raw_rows_to_stage(raw_relation) -%}
    select * from {{ raw_relation }}
    {%- if is_incremental() %}
    where loaded_at > (select coalesce(max(loaded_at), '-infinity') from {{ this }})
    {%- endif %}
{%- endmacro %}


-- Pre-hook: a full sync replaces the whole raw table (every row newly loaded), and records the
-- CRM has purged are gone from it. Forget every row of this incremental model then, so none of
-- those lingers here: `upstream` is what the model stages from (a raw table, or a contract
-- model over staged rows), `loaded_at` the sync's load time in both.
{% macro forget_rows_if_reloaded(upstream) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where
            (select min(loaded_at) from {{ upstream }})
            > (select max(loaded_at) from {{ this }})
    {%- endif -%}
{%- endmacro %}


-- When a build staged a row (dbt's run start): data tests of the incremental tables check the
-- rows the last build wrote (tests/generic/unique_among_restaged.sql), not the millions no build
-- has touched since.
{% macro staged_at() -%}
    cast('{{ run_started_at }}' as {{ type_instant() }})
{%- endmacro %}


-- The day of each timestamp in the reporting time zone (occurred_at -> occurred_on), and that
-- zone. Converting ten million instants to a zone took kpi_rep_weekly a second in every build;
-- staged, each version is converted once.
{% macro days_in_reporting_zone(timestamp_columns) -%}
    {%- for column in timestamp_columns %}
    {{ to_reporting_date(column) }} as {{ column[:-3] }}_on,
    {%- endfor %}
    '{{ var("reporting_timezone") }}' as reporting_timezone
{%- endmacro %}


-- Pre-hook: rows staged in another reporting time zone (or before rows carried one) have the
-- wrong days (days_in_reporting_zone). Every row shares the zone of the build that staged it, so
-- this forgets all of them and the build stages every raw row again.
{% macro forget_staged_rows_dated_elsewhere() -%}
    {%- if is_incremental() -%}
        {%- set staged_columns = adapter.get_columns_in_relation(this) | map(attribute='name') -%}
        delete from {{ this }}
        {%- if 'reporting_timezone' in staged_columns %}
        where reporting_timezone is distinct from '{{ var("reporting_timezone") }}'
        {%- endif %}
    {%- endif -%}
{%- endmacro %}
