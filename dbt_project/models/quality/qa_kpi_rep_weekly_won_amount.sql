-- One row per rep and week in kpi_rep_weekly or with won deals: the published won amount beside
-- the won deals' amounts summed again straight from the contract. The week is cut again from the
-- close instant in the reporting time zone (the close day where the CRM has only a date), not
-- from the day staging stored: a stale staged day shows as a difference.

with

published as (

    select
        owner_id,
        week_start,
        won_amount
    from {{ ref('kpi_rep_weekly') }}

),

won_deals as (

    select
        deals.owner_id,
        coalesce(
            {{ week_start('deals.closed_at') }}, {{ monday_of('deals.closed_on') }}
        ) as closed_week,
        coalesce(deals.amount_home, 0) as amount_home
    from {{ ref('crm_deals') }} as deals
    inner join {{ ref('crm_pipeline_stages') }} as pipeline_stages
        on
            deals.pipeline_id = pipeline_stages.pipeline_id
            and deals.stage_id = pipeline_stages.stage_id
    where
        pipeline_stages.is_won
        and not deals.is_archived
        and (deals.closed_at is not null or deals.closed_on is not null)
        and deals.owner_id in (select published.owner_id from published)
        and deals.deal_id not in ({{ quarantined_ids('deal') }})

),

recomputed as (

    select
        owner_id,
        closed_week as week_start,
        sum(amount_home) as won_amount
    from won_deals
    group by owner_id, closed_week

),

compared as (

    select
        coalesce(published.owner_id, recomputed.owner_id) as owner_id,
        coalesce(published.week_start, recomputed.week_start) as week_start,
        coalesce(published.won_amount, 0) as published_won_amount,
        coalesce(recomputed.won_amount, 0) as recomputed_won_amount
    from published
    full outer join recomputed
        on
            published.owner_id = recomputed.owner_id
            and published.week_start = recomputed.week_start

)

select * from compared
