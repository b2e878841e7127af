-- One row per pipeline, open stage and calendar quarter (reporting time zone) in which deals
-- entered the stage, from the deals' stage history: how many entered, how many moved on (to a
-- later open stage or to won), and how long the deals that left the stage spent in it.

with

stage_entries as (

    select * from {{ ref('int_deal_stage_entries_classified') }}

),

counted_entries as (

    -- Closed stages are where deals end, not steps to convert from.
    select * from stage_entries
    where
        not is_archived
        and is_known_stage
        and not is_closed
        -- Here, not in the incremental intermediate model: a deal fixed in the CRM leaves
        -- quarantine without being re-classified.
        and deal_id not in ({{ quarantined_ids('deal') }})

),

by_stage_quarter as (

    select

        ---------- ids
        pipeline_id,
        stage_id,

        ---------- text
        pipeline_label,
        stage_label,
        {{ quarter_label('quarter_start') }} as quarter,

        ---------- stage metadata
        stage_display_order,

        ---------- dates
        quarter_start,

        ---------- conversion
        count(*) as deals_entered,
        count(*) filter (where has_moved_on) as deals_moved_on,
        count(*) filter (where is_deal_in_stage_now) as deals_still_in_stage,
        {{ divide('count(*) filter (where has_moved_on)', 'count(*)') }} as conversion_rate,
        {{ median('days_in_stage') }} as median_days_in_stage,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from counted_entries
    group by
        pipeline_id,
        stage_id,
        pipeline_label,
        stage_label,
        {{ quarter_label('quarter_start') }},
        stage_display_order,
        quarter_start

)

select * from by_stage_quarter
