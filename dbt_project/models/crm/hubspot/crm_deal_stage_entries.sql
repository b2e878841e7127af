-- HubSpot keeps a deal's stage history as one entry and one exit time per stage (the last
-- ones); a stage id names one stage across all pipelines, which gives each entry its pipeline.

with

stage_history as (

    select * from {{ ref('stg_hubspot__deal_stage_history') }}

),

stages as (

    select * from {{ ref('stg_hubspot__deal_stages') }}

),

mapped as (

    select

        ---------- ids
        stage_history.deal_id,
        stages.pipeline_id,
        stage_history.stage_id,

        ---------- timestamps
        stage_history.entered_at,
        stage_history.exited_at,
        stage_history.loaded_at,

        ---------- source
        'hubspot' as source_system

    from stage_history
    left join stages
        on stage_history.stage_id = stages.stage_id
    -- An exit without an entry says nothing about when the deal got there.
    where stage_history.entered_at is not null

)

select * from mapped
