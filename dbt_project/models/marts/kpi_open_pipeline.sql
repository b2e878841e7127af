-- One row per pipeline stage holding at least one open deal, as of the build.

with

deals as (

    select * from {{ ref('int_deals_enriched') }}

),

open_deals as (

    -- Open per the stage metadata; deals in a stage the CRM does not list are left out (is_closed
    -- is null) and flagged by a test on int_deals_enriched.has_known_stage.
    select * from deals
    where not is_closed

),

by_stage as (

    select

        ---------- ids
        pipeline_id,
        stage_id,

        ---------- text
        pipeline_label,
        stage_label,

        ---------- stage metadata
        stage_display_order,
        stage_probability,

        ---------- amounts
        count(*) as open_deals,
        sum(coalesce(amount_home, 0)) as open_amount,
        {{
            decimal_from_double('sum(coalesce(amount_home, 0) * probability)', 38, 2)
        }} as weighted_amount,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from open_deals
    group by
        pipeline_id,
        stage_id,
        pipeline_label,
        stage_label,
        stage_display_order,
        stage_probability

)

select * from by_stage
