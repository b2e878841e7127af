{{
    config(
        materialized='incremental',
        incremental_strategy=replace_key_strategy(),
        unique_key='snapshot_date',
        partition_by=replace_key_partitions('snapshot_date'),
        on_schema_change='append_new_columns',
        full_refresh=false,
    )
}}

-- Point-in-time history of the open pipeline: one row per snapshot date, pipeline and open stage.
-- Each build replaces the rows of its own snapshot date (the as_of day in the reporting time
-- zone) and leaves every other day as it was, so the last build of a day wins and past days stay.
-- full_refresh=false keeps the history even through `dbt build --full-refresh`.

with

deal_stages as (

    select * from {{ ref('crm_pipeline_stages') }}

),

deals as (

    select * from {{ ref('int_deals_enriched') }}

),

open_stages as (

    -- Every open stage, with or without deals, so an emptied stage shows as 0, not as a gap.
    select * from deal_stages
    where not is_closed

),

open_by_stage as (

    select
        pipeline_id,
        stage_id,
        count(*) as open_deals,
        sum(coalesce(amount_home, 0)) as open_amount,
        {{
            decimal_from_double('sum(coalesce(amount_home, 0) * probability)', 38, 2)
        }} as weighted_amount
    from deals
    where not is_closed
    group by pipeline_id, stage_id

),

snapshot as (

    select

        ---------- dates
        {{ kpi_as_of_date() }} as snapshot_date,

        ---------- ids
        open_stages.pipeline_id,
        open_stages.stage_id,

        ---------- text
        open_stages.pipeline_label,
        open_stages.stage_label,

        ---------- stage metadata
        open_stages.stage_display_order,
        open_stages.default_probability as stage_probability,

        ---------- amounts
        coalesce(open_by_stage.open_deals, 0) as open_deals,
        coalesce(open_by_stage.open_amount, 0) as open_amount,
        coalesce(open_by_stage.weighted_amount, 0) as weighted_amount,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from open_stages
    left join open_by_stage
        on
            open_stages.pipeline_id = open_by_stage.pipeline_id
            and open_stages.stage_id = open_by_stage.stage_id
    -- An archived stage only while deals still sit in it.
    where
        not open_stages.is_archived
        or open_by_stage.open_deals > 0

)

select * from snapshot
