-- What the quality models (models/quality/) read beside the dbt graph: the sync's own tables.

-- A table of the raw layer by name. The sync writes one per object it syncs, plus _sync_state
-- and _crm_counts; they are not dbt sources because the sync, not dbt, owns them. (A Spark
-- target has no database: there a schema is one.)
{% macro raw_relation(name) -%}
    {{ return(api.Relation.create(
        database=target.get('database'), schema=schema_prefix() ~ 'raw', identifier=name
    )) }}
{%- endmacro %}


-- The objects the sync has stored (raw._sync_state), read when a model compiles, so that the
-- checks cover every raw table of whichever CRM is synced. Empty while parsing, and before the
-- first sync.
{% macro synced_objects() -%}
    {%- set state = raw_relation('_sync_state') -%}
    {%- if not execute or load_relation(state) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select object_name from {{ state }} order by object_name
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}


-- The issue codes int_data_issues gives, and kpi_data_issues documents; any other is a bug.
{% macro data_issue_codes() -%}
    {{ return([
        'amount_not_a_number',
        'negative_amount',
        'absurd_amount',
        'closed_before_created',
        'unknown_owner',
        'missing_timestamp',
    ]) }}
{%- endmacro %}

