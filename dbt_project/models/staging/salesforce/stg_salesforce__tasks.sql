{{
    config(
        materialized=restaged_materialization(),
        unique_key='task_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forget_rows_if_reloaded(source('salesforce', 'tasks')) }}",
            "{{ forget_staged_rows_dated_elsewhere() }}",
        ],
    )
}}

with

source as (

    {{ raw_rows_to_stage(source('salesforce', 'tasks')) }}

),

renamed as (

    select

        ---------- ids
        id as task_id,
        -- A User or a Queue (00G...).
        {{ salesforce_text('OwnerId') }} as owner_id,
        -- Polymorphic: an Opportunity (006...), an Account, ...
        {{ salesforce_text('WhatId') }} as what_id,

        ---------- text
        -- Call, Email, ListEmail, Task, Cadence or null.
        {{ salesforce_text('TaskSubtype') }} as task_subtype,
        {{ salesforce_text('Type') }} as task_type,
        {{ salesforce_text('Status') }} as task_status,

        ---------- booleans
        coalesce({{ salesforce_boolean('IsClosed') }}, false) as is_closed,
        -- IsDeleted only: IsArchived marks old activities Salesforce archived, not deleted ones.
        coalesce(archived, false) as is_archived,

        ---------- dates
        -- The due date, a calendar date (never shifted by a time zone); null when none is set.
        {{ salesforce_date('ActivityDate') }} as activity_date,

        ---------- timestamps
        {{ salesforce_timestamp('CreatedDate') }} as created_at,
        updated_at,
        loaded_at,
        {{ staged_at() }} as staged_at

    from source

),

dated as (

    select
        *,
        {{ days_in_reporting_zone(['created_at']) }}
    from renamed

)

select * from dated
