-- Stage entries from OpportunityHistory, which writes a row whenever the stage, amount,
-- probability or close date changes. One entry per deal and stage, as HubSpot's: entered at the
-- deal's first row with that stage (a repeat after an amount or date edit is no new entry, nor is
-- a return to a stage left earlier), exited at the first later row with another stage (rows in
-- CreatedDate order, ties by Id). The pipeline is the opportunity's record type.

with

history as (

    -- Rows are deleted (IsDeleted) only with their opportunity: they stay, so that a deleted
    -- deal's entries are replaced whole downstream, flagged by the deal's own deletion.
    select * from {{ ref('stg_salesforce__opportunity_history') }}
    where stage_name is not null

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

stages as (

    select * from {{ ref('stg_salesforce__opportunity_stages') }}

),

ordered as (

    select
        opportunity_id,
        stage_name,
        history_id,
        created_at,
        loaded_at,
        lag(stage_name) over (
            partition by opportunity_id
            order by created_at, {{ byte_order('history_id') }}
        ) as previous_stage_name
    from history

),

visits as (

    -- A visit starts at a row whose stage differs from the row before; it ends where the next
    -- visit starts, at the first later row with another stage.
    select
        opportunity_id,
        stage_name,
        history_id,
        created_at as entered_at,
        lead(created_at) over (
            partition by opportunity_id
            order by created_at, {{ byte_order('history_id') }}
        ) as exited_at
    from ordered
    where previous_stage_name is distinct from stage_name

),

first_visits as (

    select
        *,
        row_number() over (
            partition by opportunity_id, stage_name
            order by entered_at, {{ byte_order('history_id') }}
        ) as visit_number
    from visits

),

history_loads as (

    select
        opportunity_id,
        max(loaded_at) as loaded_at
    from history
    group by opportunity_id

),

mapped as (

    select

        ---------- ids
        first_visits.opportunity_id as deal_id,
        -- None for a stage the org no longer lists (renamed or deleted picklist value).
        case
            when stages.api_name is not null
                then coalesce(opportunities.record_type_id, 'default')
        end as pipeline_id,
        first_visits.stage_name as stage_id,

        ---------- timestamps
        first_visits.entered_at,
        first_visits.exited_at,
        -- The deal's version (what int_deal_stage_entries_classified restages by); the history's
        -- latest load for a history row whose opportunity is not (yet) synced.
        coalesce(opportunities.loaded_at, history_loads.loaded_at) as loaded_at,

        ---------- source
        'salesforce' as source_system

    from first_visits
    inner join history_loads
        on first_visits.opportunity_id = history_loads.opportunity_id
    left join opportunities
        on first_visits.opportunity_id = opportunities.opportunity_id
    left join stages
        on first_visits.stage_name = stages.api_name
    where first_visits.visit_number = 1

)

select * from mapped
