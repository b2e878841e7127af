-- Live deals that are not quarantined (int_data_issues), with their stage's metadata: open / won /
-- lost is read from the pipeline stage (isClosed, probability), never from stage ids (custom
-- pipelines use numeric ids) or hs_is_closed.

with

deals as (

    select * from {{ ref('stg_hubspot__deals') }}

),

deal_stages as (

    select * from {{ ref('stg_hubspot__deal_stages') }}

),

quarantined as (

    select distinct record_id as deal_id
    from {{ ref('int_data_issues') }}
    where object_type = 'deals'

),

enriched as (

    select

        ---------- ids
        deals.deal_id,
        deals.owner_id,
        deals.pipeline_id,
        deals.stage_id,

        ---------- text
        deals.deal_name,
        deal_stages.pipeline_label,
        deal_stages.stage_label,
        deals.currency_code,

        ---------- numerics
        deals.amount,
        deals.amount_in_home_currency,
        coalesce(deals.amount_in_home_currency, deals.amount) as amount_home,
        deal_stages.stage_display_order,
        deal_stages.probability as stage_probability,

        ---------- booleans
        deal_stages.stage_id is not null as has_known_stage,
        deal_stages.is_closed,
        deal_stages.is_won,
        deal_stages.is_lost,

        ---------- timestamps
        deals.created_at,
        deals.closed_at,

        ---------- dates (reporting time zone)
        deals.created_on,
        deals.closed_on

    from deals
    left join deal_stages
        on
            deals.pipeline_id = deal_stages.pipeline_id
            and deals.stage_id = deal_stages.stage_id
    where
        not deals.is_archived
        and deals.deal_id not in (select quarantined.deal_id from quarantined)

)

select * from enriched
