{{
    config(
        materialized=restaged_materialization(),
        unique_key='engagement_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forget_rows_if_reloaded(source('hubspot', 'calls')) }}",
            "{{ forget_staged_rows_dated_elsewhere() }}",
        ],
    )
}}

with

source as (

    {{ raw_rows_to_stage(source('hubspot', 'calls')) }}

),

renamed as (

    select

        ---------- ids
        id as engagement_id,
        {{ hubspot_property('hubspot_owner_id') }} as owner_id,
        {{ hubspot_property('hs_call_disposition') }} as call_disposition_id,
        {{ hubspot_association_ids('deals') }} as deal_ids,
        {{ hubspot_association_ids('contacts') }} as contact_ids,
        {{ hubspot_association_ids('companies') }} as company_ids,

        ---------- text
        {{ hubspot_property('hs_call_direction') }} as call_direction,
        {{ hubspot_property('hs_call_status') }} as call_status,

        ---------- numerics
        {{ strict_cast(hubspot_property('hs_call_duration'), 'bigint') }} as call_duration_ms,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp(hubspot_property('hs_timestamp')) }} as occurred_at,
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
