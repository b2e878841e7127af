-- Reading Salesforce records from raw JSON (the REST API's record as is): numbers and booleans are
-- JSON numbers and booleans, datetimes strings with an offset ("2026-10-01T14:03:00.000+0000"),
-- dates "YYYY-MM-DD"; a field the org lacks is absent and reads as null, like a null value.
-- Models never spell a JSON path themselves; each engine's reading is in macros/engines/json.sql.
-- Every cast is strict_cast: a value of the wrong kind fails the build on every engine (the API
-- sends typed JSON, so one means a broken sync, not a typo to quarantine).

-- A field as text, e.g. salesforce_text('StageName').
{% macro salesforce_text(field) -%}
    {{ json_text('record', [field]) }}
{%- endmacro %}


-- A number field as `data_type` (default a double), e.g. salesforce_number('Amount', 'decimal(18, 2)').
{% macro salesforce_number(field, data_type=none) -%}
    {{ strict_cast(salesforce_text(field), data_type or type_double()) }}
{%- endmacro %}


-- A checkbox field; null when absent (callers coalesce where false is meant).
{% macro salesforce_boolean(field) -%}
    {{ strict_cast(salesforce_text(field), 'boolean') }}
{%- endmacro %}


-- A date field (CloseDate, ActivityDate): a calendar date, never shifted by a time zone.
{% macro salesforce_date(field) -%}
    {{ strict_cast(salesforce_text(field), 'date') }}
{%- endmacro %}


-- A datetime field as an instant; Salesforce always sends the offset (+0000).
{% macro salesforce_timestamp(field) -%}
    {{ strict_cast(salesforce_text(field), type_instant()) }}
{%- endmacro %}


-- An id's key prefix, the first three characters, which name its object: '006' an Opportunity,
-- '00G' a Queue (a Group), '005' a User. Polymorphic ids (OwnerId, WhatId) are told apart by it.
{% macro salesforce_key_prefix(id_column) -%}
    substr({{ id_column }}, 1, 3)
{%- endmacro %}


-- A Task's activity type by its TaskSubtype; any other subtype (Task, Cadence) or none is a task.
{% macro salesforce_task_activity_types() -%}
    {{ return({'Call': 'call', 'Email': 'email', 'ListEmail': 'email'}) }}
{%- endmacro %}


-- The owner an activity or opportunity counts for: its OwnerId, unless that is a Queue or a user
-- who is no rep (users_column: that user's id from a join to the non-Standard users), who own
-- such records without selling. Those records stay, unowned, as HubSpot's unowned ones do; an id
-- the org does not list at all is kept, so int_data_issues still quarantines it.
{% macro salesforce_rep_owner_id(owner_column, non_rep_user_column) -%}
    case
        when {{ salesforce_key_prefix(owner_column) }} = '00G' then null
        when {{ non_rep_user_column }} is not null then null
        else {{ owner_column }}
    end
{%- endmacro %}


-- Whether a raw table exists, read when a model compiles: the sync writes currency_types only
-- for a multi-currency org. False while parsing.
{% macro salesforce_raw_table_exists(relation) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(load_relation(relation) is not none) }}
{%- endmacro %}
