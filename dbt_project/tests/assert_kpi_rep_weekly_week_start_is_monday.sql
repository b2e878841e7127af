-- Weeks start on Monday: any other weekday means the week bucketing broke.
select
    owner_id,
    week_start
from {{ ref('kpi_rep_weekly') }}
where isodow(week_start) != 1
