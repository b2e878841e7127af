-- Two CTEs, `owner_spans` and `<periods_cte>`, that make a per-rep table dense: every owner the
-- CRM lists has a row for every period from their first event to the current period (to their
-- last event once deactivated), plus any later period that already holds events (planned
-- meetings, future close dates). `event_periods` is a CTE of (owner_id, <period_column>).
{% macro dense_owner_periods(periods_cte, event_periods, period_column, current_period, step) -%}
owner_spans as (

    -- The inner join drops unowned records and owners the CRM does not list.
    select
        {{ event_periods }}.owner_id,
        min({{ event_periods }}.{{ period_column }}) as first_period,
        case
            when owners.is_archived then max({{ event_periods }}.{{ period_column }})
            else {{ current_period }}
        end as span_end
    from {{ event_periods }}
    inner join owners
        on {{ event_periods }}.owner_id = owners.owner_id
    group by {{ event_periods }}.owner_id, owners.is_archived

),

{{ periods_cte }} as (

    select
        owner_spans.owner_id,
        cast(series.period_start as date) as {{ period_column }}
    from owner_spans
    cross join
        {{ period_series('owner_spans.first_period', 'owner_spans.span_end', step) }}
            as series (period_start)
    union
    select
        {{ event_periods }}.owner_id,
        {{ event_periods }}.{{ period_column }}
    from {{ event_periods }}
    inner join owner_spans
        on {{ event_periods }}.owner_id = owner_spans.owner_id

)
{%- endmacro %}
