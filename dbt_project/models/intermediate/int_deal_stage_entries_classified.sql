{{
    config(
        materialized=restaged_materialization(),
        unique_key='deal_id',
        incremental_strategy='delete+insert',
        pre_hook="{{ forget_rows_if_reloaded(ref('crm_deals')) }}",
    )
}}

-- Every stage a deal has entered (stage history with an entry date), classified: did the deal
-- move on from it, how long did it stay. Incremental: only deals the sync re-loaded are redone,
-- or every deal when the pipeline settings or the reporting time zone changed. Deleted deals and
-- unknown stages keep their rows, flagged, so a deal's rows are always replaced whole.

with

deals as (

    select * from {{ ref('crm_deals') }}

),

stage_entries as (

    select * from {{ ref('crm_deal_stage_entries') }}

),

deal_stages as (

    select * from {{ ref('crm_pipeline_stages') }}

),

stage_settings as (

    -- What a deal's rows depend on besides the deal itself.
    select
        md5(
            {{ string_agg_ordered(
                "concat_ws('|', pipeline_id, stage_id, pipeline_label, stage_label,"
                ~ " stage_display_order, is_closed, is_won)",
                ',',
                'pipeline_id, stage_id'
            ) }} || '{{ var("reporting_timezone") }}'
        ) as stage_settings
    from deal_stages

),

deals_to_classify as (

    select * from deals
    {%- if is_incremental() %}
    where
        loaded_at > (select coalesce(max(loaded_at), '-infinity') from {{ this }})
        or (select max(stage_settings) from {{ this }})
        is distinct from (select stage_settings from stage_settings)
    {%- endif %}

),

entries as (

    select

        ---------- ids
        stage_entries.deal_id,
        deal_stages.pipeline_id,
        stage_entries.stage_id,

        ---------- text
        deal_stages.pipeline_label,
        deal_stages.stage_label,

        ---------- stage metadata
        deal_stages.stage_display_order,
        deal_stages.stage_id is not null as is_known_stage,
        deal_stages.is_closed,
        -- How far the entry got: a won stage beats every open stage; a lost stage goes nowhere.
        case
            when deal_stages.is_won then 1000000
            when not deal_stages.is_closed then deal_stages.stage_display_order
            else -1
        end as stage_progress,

        ---------- the deal today
        deals_to_classify.is_archived,
        coalesce(
            deals_to_classify.pipeline_id = deal_stages.pipeline_id and current_stages.is_won,
            false
        ) as is_deal_won_in_pipeline,
        deals_to_classify.stage_id = stage_entries.stage_id as is_deal_in_stage_now,

        ---------- timestamps
        stage_entries.entered_at,
        stage_entries.exited_at,
        deals_to_classify.loaded_at

    from deals_to_classify
    inner join stage_entries
        on deals_to_classify.deal_id = stage_entries.deal_id
    left join deal_stages
        on
            stage_entries.pipeline_id = deal_stages.pipeline_id
            and stage_entries.stage_id = deal_stages.stage_id
    left join deal_stages as current_stages
        on
            deals_to_classify.pipeline_id = current_stages.pipeline_id
            and deals_to_classify.stage_id = current_stages.stage_id

),

classified as (

    select
        deal_id,
        pipeline_id,
        stage_id,
        pipeline_label,
        stage_label,
        stage_display_order,
        is_known_stage,
        is_closed,
        is_archived,
        -- Moved on: the deal later entered a further open stage of the same pipeline (by display
        -- order) or a won stage, or is won in that pipeline today. The window looks at the
        -- entries from this one's time on (the same time included).
        is_deal_won_in_pipeline
        or max(stage_progress) over (
            partition by deal_id, pipeline_id
            order by entered_at desc
            range between unbounded preceding and current row
        ) > stage_display_order as has_moved_on,
        is_deal_in_stage_now,
        {{ quarter_start('entered_at') }} as quarter_start,
        case
            when exited_at >= entered_at
                then {{ divide(seconds_between('entered_at', 'exited_at'), '86400.0') }}
        end as days_in_stage,
        entered_at,
        exited_at,
        (select current_settings.stage_settings from stage_settings as current_settings)
            as stage_settings,
        loaded_at
    from entries

)

select * from classified
