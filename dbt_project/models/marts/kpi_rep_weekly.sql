-- One row per owner per week (Monday, reporting time zone), dense: every week from the owner's
-- first activity or deal event to the current week (a deactivated owner's: to their last event),
-- zeros included, plus any later week holding an event (meetings and tasks planned ahead). Each
-- event type is counted on its own day: activities on the day they happened (a task's due day),
-- deals created on their create day, won / lost on their close day.

with

owners as (

    select * from {{ ref('dim_reps') }}

),

activities as (

    select * from {{ ref('int_activities_filtered') }}

),

deals as (

    -- The columns used only: DuckDB materializes a CTE read twice, with every column it selects.
    select
        owner_id,
        amount_home,
        is_won,
        is_lost,
        created_at,
        closed_at,
        created_on,
        closed_on
    from {{ ref('int_deals_enriched') }}

),

activity_weeks as (

    select
        owner_id,
        -- occurred_on is already the reporting zone's day (staged once, not converted per build).
        {{ monday_of('occurred_on') }} as week_start,
        count(*) filter (where activity_type = 'call') as calls,
        count(*) filter (where activity_type = 'email') as emails,
        count(*) filter (where activity_type = 'meeting') as meetings,
        count(*) filter (where activity_type = 'meeting' and is_completed) as meetings_held,
        count(*) filter (where activity_type = 'task') as tasks,
        count(*) filter (where activity_type = 'task' and is_completed) as tasks_completed
    from activities
    where occurred_on is not null
    group by owner_id, {{ monday_of('occurred_on') }}

),

created_weeks as (

    select
        owner_id,
        -- created_on / closed_on: the reporting zone's days, staged once like occurred_on.
        {{ monday_of('created_on') }} as week_start,
        count(*) as deals_created,
        sum(coalesce(amount_home, 0)) as pipeline_created_amount
    from deals
    where created_on is not null
    group by owner_id, {{ monday_of('created_on') }}

),

closed_weeks as (

    select
        owner_id,
        {{ monday_of('closed_on') }} as week_start,
        count(*) filter (where is_won) as deals_won,
        count(*) filter (where is_lost) as deals_lost,
        coalesce(sum(coalesce(amount_home, 0)) filter (where is_won), 0) as won_amount,
        coalesce(sum(coalesce(amount_home, 0)) filter (where is_lost), 0) as lost_amount,
        -- Seconds averaged as integers, then turned into days: a sum of doubles depends on the
        -- order DuckDB's threads add them in, and two runs on the same data must agree. Where the
        -- CRM has no close instant (Salesforce's CloseDate is a day): close day - create day.
        {{
            divide(
                "avg(coalesce("
                ~ seconds_between('created_at', 'closed_at') ~ ", "
                ~ days_between('created_on', 'closed_on') ~ " * 86400"
                ~ ")) filter (where is_won)",
                '86400.0'
            )
        }} as avg_days_to_close
    from deals
    where
        closed_on is not null
        and (is_won or is_lost)
    group by owner_id, {{ monday_of('closed_on') }}

),

event_weeks as (

    select
        owner_id,
        week_start
    from activity_weeks
    union
    select
        owner_id,
        week_start
    from created_weeks
    union
    select
        owner_id,
        week_start
    from closed_weeks

),

{{
    dense_owner_periods(
        'owner_weeks', 'event_weeks', 'week_start', week_start(kpi_as_of()),
        "interval '7 days'"
    )
}},

joined as (

    select

        ---------- ids
        owner_weeks.owner_id,
        owners.team_id,

        ---------- text
        owners.owner_name,
        owners.team_name,

        ---------- dates
        owner_weeks.week_start,

        ---------- activity
        coalesce(activity_weeks.calls, 0) as calls,
        coalesce(activity_weeks.emails, 0) as emails,
        coalesce(activity_weeks.meetings, 0) as meetings,
        coalesce(activity_weeks.meetings_held, 0) as meetings_held,
        coalesce(activity_weeks.tasks, 0) as tasks,
        coalesce(activity_weeks.tasks_completed, 0) as tasks_completed,

        ---------- pipeline created
        coalesce(created_weeks.deals_created, 0) as deals_created,
        coalesce(created_weeks.pipeline_created_amount, 0) as pipeline_created_amount,

        ---------- outcomes
        coalesce(closed_weeks.deals_won, 0) as deals_won,
        coalesce(closed_weeks.deals_lost, 0) as deals_lost,
        coalesce(closed_weeks.won_amount, 0) as won_amount,
        coalesce(closed_weeks.lost_amount, 0) as lost_amount,
        closed_weeks.avg_days_to_close

    from owner_weeks
    inner join owners
        on owner_weeks.owner_id = owners.owner_id
    left join activity_weeks
        on
            owner_weeks.owner_id = activity_weeks.owner_id
            and owner_weeks.week_start = activity_weeks.week_start
    left join created_weeks
        on
            owner_weeks.owner_id = created_weeks.owner_id
            and owner_weeks.week_start = created_weeks.week_start
    left join closed_weeks
        on
            owner_weeks.owner_id = closed_weeks.owner_id
            and owner_weeks.week_start = closed_weeks.week_start

),

final as (

    select
        *,
        {{ win_rate('deals_won', 'deals_lost') }} as win_rate,
        {{ win_rate('won_amount', 'lost_amount') }} as win_rate_by_amount,
        {{ avg_won_deal_size('won_amount', 'deals_won') }} as avg_won_deal_size,
        {{ kpi_as_of() }} as as_of
    from joined

)

select * from final
