-- HubSpot deal pipeline stages. Won and lost come from the stage metadata (closed with
-- probability 1 / 0), never from stage ids: custom pipelines have numeric ids.

with

stages as (

    select * from {{ ref('stg_hubspot__deal_stages') }}

),

mapped as (

    select

        ---------- ids
        pipeline_id,
        stage_id,

        ---------- text
        pipeline_label,
        stage_label,

        ---------- numerics
        pipeline_display_order,
        stage_display_order,
        probability as default_probability,

        ---------- booleans
        is_closed,
        is_closed and probability = 1 as is_won,
        is_closed and probability = 0 as is_lost,
        is_archived,

        ---------- source
        'hubspot' as source_system

    from stages

)

select * from mapped
