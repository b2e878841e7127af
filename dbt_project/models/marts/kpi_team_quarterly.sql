-- One row per team per calendar quarter: the sums of its reps' rows in kpi_rep_quarterly (a rep
-- counts in their primary team as the CRM lists it today). The team quota is the sum of its reps'
-- quotas; rates and ratios are computed again from the sums, never averaged over reps.

{%- set count_columns = ['deals_won', 'deals_lost', 'open_deals', 'deals_created'] %}
{%- set amount_columns = [
    'won_amount',
    'lost_amount',
    'open_pipeline_amount',
    'weighted_forecast_amount',
    'pipeline_created_amount',
] %}

with

rep_quarters as (

    select * from {{ ref('kpi_rep_quarterly') }}

),

team_quarters as (

    select

        ---------- ids
        team_id,

        ---------- text
        max(team_name) as team_name,
        quarter,

        ---------- dates
        quarter_start,

        ---------- quota, bookings, open pipeline, pipeline created
        -- Null when no rep of the team has a quota for the quarter.
        sum(quota_amount) as quota_amount,
        {%- for column in amount_columns %}
            sum({{ column }}) as {{ column }},
        {%- endfor %}
        {%- for column in count_columns %}
            cast(sum({{ column }}) as bigint) as {{ column }},
        {%- endfor %}

        ---------- reps
        count(*) as reps,
        count(quota_amount) as reps_with_quota

    from rep_quarters
    where team_id is not null
    group by team_id, quarter, quarter_start

),

final as (

    select
        *,
        {{ attainment('won_amount', 'quota_amount') }} as attainment,
        {{ pipeline_coverage('open_pipeline_amount', 'quota_amount', 'won_amount') }}
            as pipeline_coverage,
        {{ win_rate('deals_won', 'deals_lost') }} as win_rate,
        {{ kpi_as_of() }} as as_of
    from team_quarters

)

select * from final
