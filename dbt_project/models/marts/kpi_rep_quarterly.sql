-- One row per owner per calendar quarter (reporting time zone): bookings against quota, the open
-- pipeline expected to close in the quarter, and the quarter's win rate. Dense from the owner's
-- first deal event or quota to the current quarter (a deactivated owner's: to their last), plus
-- any later quarter holding a quota or an open deal's expected close date.

with

owners as (

    select * from {{ ref('dim_reps') }}

),

deals as (

    -- The columns used only: DuckDB materializes a CTE read thrice, with every column it selects.
    select
        owner_id,
        amount_home,
        probability,
        is_closed,
        is_won,
        is_lost,
        created_on,
        closed_on
    from {{ ref('int_deals_enriched') }}

),

quotas as (

    select * from {{ ref('crm_quotas') }}

),

created_quarters as (

    select
        owner_id,
        -- created_on / closed_on: the reporting zone's days, staged once like occurred_on.
        {{ quarter_of('created_on') }} as quarter_start,
        count(*) as deals_created,
        sum(coalesce(amount_home, 0)) as pipeline_created_amount
    from deals
    where created_on is not null
    group by owner_id, {{ quarter_of('created_on') }}

),

closed_quarters as (

    select
        owner_id,
        {{ quarter_of('closed_on') }} as quarter_start,
        count(*) filter (where is_won) as deals_won,
        count(*) filter (where is_lost) as deals_lost,
        coalesce(sum(coalesce(amount_home, 0)) filter (where is_won), 0) as won_amount,
        coalesce(sum(coalesce(amount_home, 0)) filter (where is_lost), 0) as lost_amount
    from deals
    where
        closed_on is not null
        and (is_won or is_lost)
    group by owner_id, {{ quarter_of('closed_on') }}

),

open_quarters as (

    -- On an open deal the close day is the expected one.
    select
        owner_id,
        {{ quarter_of('closed_on') }} as quarter_start,
        count(*) as open_deals,
        sum(coalesce(amount_home, 0)) as open_pipeline_amount,
        {{
            decimal_from_double('sum(coalesce(amount_home, 0) * probability)', 38, 2)
        }} as weighted_forecast_amount
    from deals
    where
        not is_closed
        and closed_on is not null
    group by owner_id, {{ quarter_of('closed_on') }}

),

event_quarters as (

    select
        owner_id,
        quarter_start
    from created_quarters
    union
    select
        owner_id,
        quarter_start
    from closed_quarters
    union
    select
        owner_id,
        quarter_start
    from open_quarters
    union
    select
        owner_id,
        quarter_start
    from quotas

),

{{
    dense_owner_periods(
        'owner_quarters', 'event_quarters', 'quarter_start',
        quarter_start(kpi_as_of()), "interval '3 months'"
    )
}},

joined as (

    select

        ---------- ids
        owner_quarters.owner_id,
        owners.team_id,

        ---------- text
        owners.owner_name,
        owners.team_name,
        {{ quarter_label('owner_quarters.quarter_start') }} as quarter,

        ---------- dates
        owner_quarters.quarter_start,

        ---------- quota and bookings
        quotas.quota_amount,
        coalesce(closed_quarters.won_amount, 0) as won_amount,
        coalesce(closed_quarters.lost_amount, 0) as lost_amount,
        coalesce(closed_quarters.deals_won, 0) as deals_won,
        coalesce(closed_quarters.deals_lost, 0) as deals_lost,

        ---------- open pipeline expected to close in the quarter
        coalesce(open_quarters.open_deals, 0) as open_deals,
        coalesce(open_quarters.open_pipeline_amount, 0) as open_pipeline_amount,
        coalesce(open_quarters.weighted_forecast_amount, 0) as weighted_forecast_amount,

        ---------- pipeline created
        coalesce(created_quarters.deals_created, 0) as deals_created,
        coalesce(created_quarters.pipeline_created_amount, 0) as pipeline_created_amount

    from owner_quarters
    inner join owners
        on owner_quarters.owner_id = owners.owner_id
    left join quotas
        on
            owner_quarters.owner_id = quotas.owner_id
            and owner_quarters.quarter_start = quotas.quarter_start
    left join closed_quarters
        on
            owner_quarters.owner_id = closed_quarters.owner_id
            and owner_quarters.quarter_start = closed_quarters.quarter_start
    left join open_quarters
        on
            owner_quarters.owner_id = open_quarters.owner_id
            and owner_quarters.quarter_start = open_quarters.quarter_start
    left join created_quarters
        on
            owner_quarters.owner_id = created_quarters.owner_id
            and owner_quarters.quarter_start = created_quarters.quarter_start

),

final as (

    select
        *,
        {{ attainment('won_amount', 'quota_amount') }} as attainment,
        {{ pipeline_coverage('open_pipeline_amount', 'quota_amount', 'won_amount') }}
            as pipeline_coverage,
        {{ win_rate('deals_won', 'deals_lost') }} as win_rate,
        {{ kpi_as_of() }} as as_of
    from joined

)

select * from final
