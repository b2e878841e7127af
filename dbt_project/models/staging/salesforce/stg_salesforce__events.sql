{{
    config(
        materialized=restaged_materialization(),
        unique_key='event_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forget_rows_if_reloaded(source('salesforce', 'events')) }}",
            "{{ forget_staged_rows_dated_elsewhere() }}",
        ],
    )
}}

with

source as (

    {{ raw_rows_to_stage(source('salesforce', 'events')) }}

),

renamed as (

    select

        ---------- ids
        id as event_id,
        {{ salesforce_text('OwnerId') }} as owner_id,
        {{ salesforce_text('WhatId') }} as what_id,

        ---------- booleans
        coalesce({{ salesforce_boolean('IsAllDayEvent') }}, false) as is_all_day,
        -- An invitee's copy of another user's event.
        coalesce({{ salesforce_boolean('IsChild') }}, false) as is_child,
        -- IsDeleted only: IsArchived marks old activities Salesforce archived, not deleted ones.
        coalesce(archived, false) as is_archived,

        ---------- dates
        -- The day of an all-day event, a calendar date (never shifted by a time zone).
        {{ salesforce_date('ActivityDate') }} as activity_date,

        ---------- timestamps
        {{ salesforce_timestamp('StartDateTime') }} as started_at,
        {{ salesforce_timestamp('EndDateTime') }} as ended_at,
        {{ salesforce_timestamp('CreatedDate') }} as created_at,
        updated_at,
        loaded_at,
        {{ staged_at() }} as staged_at

    from source

),

dated as (

    select
        *,
        {{ days_in_reporting_zone(['started_at']) }}
    from renamed

)

select * from dated
