-- A rep has a row for every week from their first row to the current week (a deactivated rep: to
-- their last row): any gap means the week spine broke. Returns each rep with too few rows.
with

rep_weeks as (

    select * from {{ ref('kpi_rep_weekly') }}

),

spans as (

    select
        owner_id,
        min(week_start) as first_week,
        least(max(week_start), {{ week_start(kpi_as_of()) }}) as span_end
    from rep_weeks
    group by owner_id

),

counted as (

    select
        spans.owner_id,
        spans.first_week,
        spans.span_end,
        count(*) as weeks
    from spans
    inner join rep_weeks
        on
            spans.owner_id = rep_weeks.owner_id
            and spans.span_end >= rep_weeks.week_start
    group by spans.owner_id, spans.first_week, spans.span_end

)

select *
from counted
-- Both are Mondays: the span holds (days between) / 7 + 1 weeks.
where 7 * (weeks - 1) != {{ days_between('first_week', 'span_end') }}
