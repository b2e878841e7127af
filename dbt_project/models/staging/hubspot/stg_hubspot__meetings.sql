{{
    config(
        materialized=restaged_materialization(),
        unique_key='engagement_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forget_rows_if_reloaded(source('hubspot', 'meetings')) }}",
            "{{ forget_staged_rows_dated_elsewhere() }}",
        ],
    )
}}

with

source as (

    {{ raw_rows_to_stage(source('hubspot', 'meetings')) }}

),

renamed as (

    select

        ---------- ids
        id as engagement_id,
        {{ hubspot_property('hubspot_owner_id') }} as owner_id,
        {{ hubspot_association_ids('deals') }} as deal_ids,
        {{ hubspot_association_ids('contacts') }} as contact_ids,
        {{ hubspot_association_ids('companies') }} as company_ids,

        ---------- text
        {{ hubspot_property('hs_meeting_outcome') }} as meeting_outcome,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp(hubspot_property('hs_timestamp')) }} as occurred_at,
        {{ hubspot_timestamp(hubspot_property('hs_meeting_start_time')) }} as meeting_start_at,
        {{ hubspot_timestamp(hubspot_property('hs_meeting_end_time')) }} as meeting_end_at,
        updated_at,
        loaded_at,
        {{ staged_at() }} as staged_at

    from source

),

dated as (

    select
        *,
        {{ days_in_reporting_zone(['occurred_at']) }}
    from renamed

)

select * from dated
