{{
    config(
        materialized=restaged_materialization(),
        unique_key='history_id',
        incremental_strategy='delete+insert',
        pre_hook="{{ forget_rows_if_reloaded(source('salesforce', 'opportunity_history')) }}",
    )
}}

-- One row per OpportunityHistory record: Salesforce writes one whenever the stage, amount,
-- probability or close date changes, so consecutive rows can repeat a stage (the contract's
-- crm_deal_stage_entries collapses them).

with

source as (

    {{ raw_rows_to_stage(source('salesforce', 'opportunity_history')) }}

),

renamed as (

    select

        ---------- ids
        id as history_id,
        {{ salesforce_text('OpportunityId') }} as opportunity_id,
        {{ salesforce_text('StageName') }} as stage_name,

        ---------- numerics
        {{ salesforce_number('Amount', 'decimal(18, 2)') }} as amount,
        {{ salesforce_number('Probability') }} / 100 as probability,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- dates
        {{ salesforce_date('CloseDate') }} as close_date,

        ---------- timestamps
        -- When the change was made: the history row's own creation.
        {{ salesforce_timestamp('CreatedDate') }} as created_at,
        updated_at,
        loaded_at,
        {{ staged_at() }} as staged_at

    from source

)

select * from renamed
