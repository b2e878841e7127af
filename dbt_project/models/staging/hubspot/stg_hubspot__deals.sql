{{
    config(
        materialized=restaged_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ forget_rows_if_reloaded(source('hubspot', 'deals')) }}",
            "{{ forget_staged_rows_dated_elsewhere() }}",
        ],
    )
}}

with

source as (

    {{ raw_rows_to_stage(source('hubspot', 'deals')) }}

),

renamed as (

    select

        ---------- ids
        id as deal_id,
        {{ hubspot_property('hubspot_owner_id') }} as owner_id,
        {{ hubspot_property('pipeline') }} as pipeline_id,
        {{ hubspot_property('dealstage') }} as stage_id,
        {{ hubspot_association_ids('companies') }} as company_ids,

        ---------- text
        {{ hubspot_property('dealname') }} as deal_name,
        {{ hubspot_property('deal_currency_code') }} as currency_code,

        ---------- numerics
        -- try_cast: one deal with "TBD" in its amount must not stop every KPI; the text is kept
        -- beside it so int_data_issues can quarantine that deal instead.
        {{ try_cast(hubspot_property('amount'), 'decimal(18, 2)') }} as amount,
        {{ try_cast(hubspot_property('amount_in_home_currency'), 'decimal(18, 2)') }}
            as amount_in_home_currency,

        ---------- text as the CRM sent it
        {{ hubspot_property('amount') }} as amount_text,
        {{ hubspot_property('amount_in_home_currency') }} as amount_in_home_currency_text,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp(hubspot_property('createdate')) }} as created_at,
        {{ hubspot_timestamp(hubspot_property('closedate')) }} as closed_at,
        updated_at,
        loaded_at,
        {{ staged_at() }} as staged_at

    from source

),

dated as (

    select
        *,
        {{ days_in_reporting_zone(['created_at', 'closed_at']) }}
    from renamed

)

select * from dated
