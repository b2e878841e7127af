{{
    config(
        materialized=restaged_materialization(),
        unique_key='opportunity_id',
        incremental_strategy='delete+insert',
        pre_hook=[
            "{{ forget_rows_if_reloaded(source('salesforce', 'opportunities')) }}",
            "{{ forget_staged_rows_dated_elsewhere() }}",
        ],
    )
}}

-- Amounts stay in the opportunity's own currency here: converted in the contract's view
-- (crm_deals), so a change of rates reaches every deal at the next build, not only restaged ones.

with

source as (

    {{ raw_rows_to_stage(source('salesforce', 'opportunities')) }}

),

renamed as (

    select

        ---------- ids
        id as opportunity_id,
        {{ salesforce_text('OwnerId') }} as owner_id,
        {{ salesforce_text('AccountId') }} as account_id,
        {{ salesforce_text('RecordTypeId') }} as record_type_id,
        -- The stage's ApiName (OpportunityStage), a picklist value.
        {{ salesforce_text('StageName') }} as stage_name,

        ---------- text
        {{ salesforce_text('Name') }} as opportunity_name,
        -- Absent in a single-currency org.
        {{ salesforce_text('CurrencyIsoCode') }} as currency_code,

        ---------- numerics
        {{ salesforce_number('Amount', 'decimal(18, 2)') }} as amount,
        -- The deal's own percent (reps may override the stage's), as a fraction from 0 to 1.
        {{ salesforce_number('Probability') }} / 100 as probability,

        ---------- booleans
        -- Staged for reference only: won and lost come from the stage (OpportunityStage).
        coalesce({{ salesforce_boolean('IsClosed') }}, false) as is_closed,
        coalesce({{ salesforce_boolean('IsWon') }}, false) as is_won,
        coalesce(archived, false) as is_archived,

        ---------- dates
        -- A calendar date ("midnight UTC, don't adjust"): never shifted by a time zone.
        {{ salesforce_date('CloseDate') }} as close_date,

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
