-- One row per team per week: the sums of its reps' rows in kpi_rep_weekly (a rep counts in their
-- primary team as the CRM lists it today), dense from the team's first week to the current week.
-- Rates are computed again from the sums, never averaged over reps.

{%- set count_columns = [
    'calls',
    'emails',
    'meetings',
    'meetings_held',
    'tasks',
    'tasks_completed',
    'deals_created',
    'deals_won',
    'deals_lost',
] %}
{%- set amount_columns = ['pipeline_created_amount', 'won_amount', 'lost_amount'] %}

with

rep_weeks as (

    select * from {{ ref('kpi_rep_weekly') }}

),

team_weeks_summed as (

    select
        team_id,
        week_start,
        count(*) as reps,
        {%- for column in count_columns %}
            cast(sum({{ column }}) as bigint) as {{ column }},
        {%- endfor %}
        {%- for column in amount_columns %}
            sum({{ column }}) as {{ column }},
        {%- endfor %}
        -- The mean over all the team's won deals: each rep's mean weighted by their deals won.
        -- Summed as decimals, which add up exactly in any order (idempotent runs).
        cast(
            {{
                divide(
                    'sum(' ~ decimal_from_double('avg_days_to_close * deals_won', 38, 9) ~ ')',
                    'nullif(sum(deals_won) filter (where avg_days_to_close is not null), 0)'
                )
            }}
            as {{ type_double() }}
        ) as avg_days_to_close
    from rep_weeks
    where team_id is not null
    group by team_id, week_start

),

team_spans as (

    select
        team_id,
        min(week_start) as first_week
    from team_weeks_summed
    group by team_id

),

team_names as (

    select
        team_id,
        max(team_name) as team_name
    from rep_weeks
    where team_id is not null
    group by team_id

),

team_weeks as (

    select
        team_spans.team_id,
        cast(series.week_start as date) as week_start
    from team_spans
    cross join
        {{ period_series('team_spans.first_week', week_start(kpi_as_of()), "interval '7 days'") }}
            as series (week_start)
    union
    select
        team_id,
        week_start
    from team_weeks_summed

),

joined as (

    select

        ---------- ids
        team_weeks.team_id,

        ---------- text
        team_names.team_name,

        ---------- dates
        team_weeks.week_start,

        ---------- reps
        coalesce(team_weeks_summed.reps, 0) as reps,

        ---------- activity, pipeline created, outcomes
        {%- for column in count_columns + amount_columns %}
            coalesce(team_weeks_summed.{{ column }}, 0) as {{ column }},
        {%- endfor %}
        team_weeks_summed.avg_days_to_close

    from team_weeks
    inner join team_names
        on team_weeks.team_id = team_names.team_id
    left join team_weeks_summed
        on
            team_weeks.team_id = team_weeks_summed.team_id
            and team_weeks.week_start = team_weeks_summed.week_start

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
