-- Reading HubSpot records from raw JSON: every property value is a string or null, and a property
-- the portal does not have is missing altogether, so both read as null.

{% macro hubspot_property(name) -%}
    nullif({{ json_text('record', ['properties', name]) }}, '')
{%- endmacro %}


-- Ids of associated records, e.g. hubspot_association_ids('deals') on a call. HubSpot lists an id
-- once per association label, so ids are de-duplicated; a record without associations gets [].
{% macro hubspot_association_ids(object_name) -%}
    {{ json_array_distinct_texts('record', ['associations', object_name, 'results'], 'id') }}
{%- endmacro %}


-- HubSpot datetimes are ISO-8601 ("2026-10-05T14:03:11.123Z"), but some portals send hs_timestamp
-- as epoch milliseconds ("1795089600000"). Both become instants (type_instant()); a string
-- without an offset is read as UTC so the result never depends on the session time zone. Text
-- that is no timestamp fails the build (strict_cast), on Spark as on DuckDB.
{% macro hubspot_timestamp(value) -%}
    case
        when {{ regex_full_match(value, '[0-9]+') }}
            then {{ epoch_ms_to_instant(strict_cast(value, 'bigint')) }}
        when {{ regex_contains(value, '[T ][0-9:.]+ ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$') }}
            then {{ strict_cast(value, type_instant()) }}
        else {{ utc_text_to_instant(value) }}
    end
{%- endmacro %}


-- The stage ids of every deal pipeline, read from the raw pipelines when a model compiles. Deals
-- hold their stage history in properties named after them (hs_date_entered_<stage id>), and one
-- JSON parse with a constant list of paths is several times faster than walking every property.
-- Unit tests pass the ids as var('hubspot_deal_stage_ids').
{% macro hubspot_deal_stage_ids() -%}
    {%- if var('hubspot_deal_stage_ids', none) is not none -%}
        {{ return(var('hubspot_deal_stage_ids') | list) }}
    {%- endif -%}
    {%- set pipelines = source('hubspot', 'deal_pipelines') -%}
    {%- if not execute or load_relation(pipelines) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select distinct {{ byte_order(json_text('stage.value', ['id'])) }} as stage_id
        from {{ pipelines }}
        cross join {{ json_array_rows('record', ['stages']) }} as stage
        order by stage_id
    {%- endset -%}
    {{ return(run_query(query).columns[0].values() | list) }}
{%- endmacro %}


-- The values of properties `names` in one JSON parse, as a list in the same order.
{% macro hubspot_property_list(names) -%}
    {%- set paths = [] -%}
    {%- for name in names -%}
        {%- do paths.append(['properties', name]) -%}
    {%- endfor -%}
    {{ json_text_list('record', paths) }}
{%- endmacro %}


-- HubSpot's engagement objects, each with the activity type it is and the SQL (over its staging
-- model) saying whether it was completed: a meeting held, a task done; calls and emails have none.
{% macro hubspot_engagements() -%}
    {{ return({
        'calls': ('call', 'cast(null as boolean)'),
        'emails': ('email', 'cast(null as boolean)'),
        'meetings': ('meeting', "meeting_outcome = 'COMPLETED'"),
        'tasks': ('task', "task_status = 'COMPLETED'"),
    }) }}
{%- endmacro %}
