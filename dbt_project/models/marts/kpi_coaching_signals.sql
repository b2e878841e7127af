-- One row per active (not deactivated) owner as of the build: where a rep may need support now.
-- Windows end on as_of's day (CRM_KPI_AS_OF, else the build start) in the reporting time zone:
-- "last 7 days" are that day and the 6 before. Signals for a coaching conversation, not a ranking.

with

owners as (

    select * from {{ ref('dim_reps') }}

),

activities as (

    -- Activities dated in the 14 days up to as_of (the stalled-deal window; the 7-day count
    -- narrows it), the columns used only: DuckDB materializes a CTE read twice.
    select
        activity_id,
        owner_id,
        occurred_on
    from {{ ref('int_activities_filtered') }}
    where {{ dated_within_days_before_as_of('occurred_on', 14) }}

),

deals as (

    -- The columns used only (this CTE is read thrice).
    select
        deal_id,
        owner_id,
        amount_home,
        is_closed,
        is_won,
        is_lost,
        created_on,
        closed_on
    from {{ ref('int_deals_enriched') }}

),

active_owners as (

    select * from owners
    where not is_archived

),

open_deals as (

    select * from deals
    where not is_closed

),

recently_touched_deals as (

    -- Deals with an activity of any kind (by anyone) dated in the last 14 days (all of
    -- `activities`).
    select distinct activity_deals.deal_id
    from activities
    inner join {{ ref('crm_activity_deals') }} as activity_deals
        on activities.activity_id = activity_deals.activity_id

),

open_deal_signals as (

    select
        open_deals.owner_id,
        count(*) as open_deals,
        sum(coalesce(open_deals.amount_home, 0)) as open_amount,
        count(*) filter (
            -- Due before today: a deal due today is not overdue yet.
            where open_deals.closed_on < {{ kpi_as_of_date() }}
        ) as overdue_deals,
        count(*) filter (where recently_touched_deals.deal_id is null) as stalled_deals
    from open_deals
    left join recently_touched_deals
        on open_deals.deal_id = recently_touched_deals.deal_id
    group by open_deals.owner_id

),

activity_signals as (

    select
        owner_id,
        count(*) as activities_last_7d
    from activities
    where {{ dated_within_days_before_as_of('occurred_on', 7) }}
    group by owner_id

),

created_signals as (

    select
        owner_id,
        sum(coalesce(amount_home, 0)) as pipeline_created_last_30d
    from deals
    where {{ dated_within_days_before_as_of('created_on', 30) }}
    group by owner_id

),

closed_signals as (

    select
        owner_id,
        count(*) filter (where is_won) as deals_won_last_90d,
        count(*) filter (where is_lost) as deals_lost_last_90d
    from deals
    where
        (is_won or is_lost)
        and {{ dated_within_days_before_as_of('closed_on', 90) }}
    group by owner_id

),

joined as (

    select

        ---------- ids
        active_owners.owner_id,
        active_owners.team_id,

        ---------- text
        active_owners.owner_name,
        active_owners.team_name,

        ---------- open deals now
        coalesce(open_deal_signals.open_deals, 0) as open_deals,
        coalesce(open_deal_signals.open_amount, 0) as open_amount,
        coalesce(open_deal_signals.overdue_deals, 0) as overdue_deals,
        coalesce(open_deal_signals.stalled_deals, 0) as stalled_deals,

        ---------- activity
        coalesce(activity_signals.activities_last_7d, 0) as activities_last_7d,

        ---------- pipeline created
        coalesce(created_signals.pipeline_created_last_30d, 0) as pipeline_created_last_30d,

        ---------- outcomes
        coalesce(closed_signals.deals_won_last_90d, 0) as deals_won_last_90d,
        coalesce(closed_signals.deals_lost_last_90d, 0) as deals_lost_last_90d

    from active_owners
    left join open_deal_signals
        on active_owners.owner_id = open_deal_signals.owner_id
    left join activity_signals
        on active_owners.owner_id = activity_signals.owner_id
    left join created_signals
        on active_owners.owner_id = created_signals.owner_id
    left join closed_signals
        on active_owners.owner_id = closed_signals.owner_id

),

team_medians as (

    -- The middle of the team: half its active reps logged more, half fewer.
    select
        team_id,
        {{ median('activities_last_7d') }} as team_median_activities_last_7d
    from joined
    where team_id is not null
    group by team_id

),

final as (

    select
        joined.owner_id,
        joined.team_id,
        joined.owner_name,
        joined.team_name,
        joined.open_deals,
        joined.open_amount,
        joined.overdue_deals,
        joined.stalled_deals,
        joined.activities_last_7d,
        team_medians.team_median_activities_last_7d,
        joined.pipeline_created_last_30d,
        joined.deals_won_last_90d,
        joined.deals_lost_last_90d,
        {{ win_rate('joined.deals_won_last_90d', 'joined.deals_lost_last_90d') }}
            as win_rate_last_90d,
        {{ kpi_as_of() }} as as_of
    from joined
    left join team_medians
        on joined.team_id = team_medians.team_id

)

select * from final
