-- Live deals that are not quarantined (int_data_issues), with their stage's meaning: open, won
-- or lost as the pipeline's stage settings say.

with

deals as (

    select * from {{ ref('crm_deals') }}

),

stages as (

    select * from {{ ref('crm_pipeline_stages') }}

),

enriched as (

    select

        ---------- ids
        deals.deal_id,
        deals.owner_id,
        deals.pipeline_id,
        deals.stage_id,

        ---------- text
        stages.pipeline_label,
        stages.stage_label,

        ---------- numerics
        deals.amount_home,
        deals.probability,
        stages.stage_display_order,
        stages.default_probability as stage_probability,

        ---------- booleans
        stages.stage_id is not null as has_known_stage,
        stages.is_closed,
        stages.is_won,
        stages.is_lost,

        ---------- timestamps
        deals.created_at,
        deals.closed_at,

        ---------- dates (reporting time zone)
        deals.created_on,
        deals.closed_on

    from deals
    left join stages
        on
            deals.pipeline_id = stages.pipeline_id
            and deals.stage_id = stages.stage_id
    where
        not deals.is_archived
        and deals.deal_id not in ({{ quarantined_ids('deal') }})

)

select * from enriched
