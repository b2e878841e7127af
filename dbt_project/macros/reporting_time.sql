-- Reporting periods are cut in var('reporting_timezone') (CRM_KPI_TIMEZONE, default UTC), so a
-- call made on Sunday evening in New York counts in that Sunday's week, not Monday's.

{% macro to_reporting_timestamp(column_name) -%}
    {{ local_timestamp(var("reporting_timezone"), column_name) }}
{%- endmacro %}


{% macro to_reporting_date(column_name) -%}
    cast({{ to_reporting_timestamp(column_name) }} as date)
{%- endmacro %}


-- Weeks start on Monday (ISO weeks): the week of an instant, in the reporting time zone.
{% macro week_start(column_name) -%}
    {{ monday_of(to_reporting_timestamp(column_name)) }}
{%- endmacro %}


-- The Monday starting the week of a day or a local timestamp (already in the reporting zone).
{% macro monday_of(expression) -%}
    {{ truncate_to_date('week', expression) }}
{%- endmacro %}


-- Calendar quarters, first day (a date) and label ("2026-Q4"): the quarter of an instant, in
-- the reporting time zone.
{% macro quarter_start(column_name) -%}
    {{ quarter_of(to_reporting_timestamp(column_name)) }}
{%- endmacro %}


-- The first day of the quarter of a day or a local timestamp (already in the reporting zone).
{% macro quarter_of(expression) -%}
    {{ truncate_to_date('quarter', expression) }}
{%- endmacro %}


-- quarter_label(date) ("2026-Q4") and days_between(day, day) are in macros/engines/time.sql.


-- The calendar day `days` days before a day.
{% macro days_before(day, days) -%}
    cast({{ day }} - {{ days }} as date)
{%- endmacro %}
