-- Salesforce has no pipeline object: an opportunity's record type is its pipeline ('default',
-- "Opportunities", for those without one), and the stages (OpportunityStage) are org-wide, in
-- one order for every record type. Which stages a record type's sales process uses is not in
-- SOQL, so a pipeline lists the stages its opportunities are or were in. Won and lost come from
-- the stage's IsClosed and IsWon, never from its probability.

with

stages as (

    select * from {{ ref('stg_salesforce__opportunity_stages') }}

),

record_types as (

    select * from {{ ref('stg_salesforce__record_types') }}

),

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

history as (

    select * from {{ ref('stg_salesforce__opportunity_history') }}

),

stages_used as (

    select
        coalesce(record_type_id, 'default') as pipeline_id,
        stage_name
    from opportunities

    union

    select
        coalesce(opportunities.record_type_id, 'default') as pipeline_id,
        history.stage_name
    from history
    inner join opportunities
        on history.opportunity_id = opportunities.opportunity_id

),

pipelines as (

    select
        record_type_id as pipeline_id,
        record_type_name as pipeline_label,
        cast(
            row_number() over (
                order by {{ byte_order('record_type_name') }}, {{ byte_order('record_type_id') }}
            ) as integer
        ) as pipeline_display_order,
        not is_active or is_archived as is_pipeline_archived
    from record_types
    where sobject_type = 'Opportunity'

    union all

    select
        'default' as pipeline_id,
        'Opportunities' as pipeline_label,
        0 as pipeline_display_order,
        false as is_pipeline_archived
    where exists (
        select opportunities.opportunity_id
        from opportunities
        where opportunities.record_type_id is null
    )

),

mapped as (

    select

        ---------- ids
        pipelines.pipeline_id,
        stages.api_name as stage_id,

        ---------- text
        pipelines.pipeline_label,
        stages.stage_label,

        ---------- numerics
        pipelines.pipeline_display_order,
        stages.sort_order as stage_display_order,
        stages.default_probability,

        ---------- booleans
        stages.is_closed,
        stages.is_closed and stages.is_won as is_won,
        stages.is_closed and not stages.is_won as is_lost,
        not stages.is_active
        or stages.is_archived
        or pipelines.is_pipeline_archived as is_archived,

        ---------- source
        'salesforce' as source_system

    from pipelines
    inner join stages_used
        on pipelines.pipeline_id = stages_used.pipeline_id
    inner join stages
        on stages_used.stage_name = stages.api_name

)

select * from mapped
