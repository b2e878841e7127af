-- The instant every KPI is computed as of: CRM_KPI_AS_OF (ISO-8601 with an offset) when set, so a
-- past day can be replayed, else the start of this dbt invocation. One value per invocation, so
-- every mart built together carries the same as_of.
{% macro kpi_as_of() -%}
    {%- set as_of = env_var('CRM_KPI_AS_OF', '') | trim -%}
    {%- if as_of and not modules.re.fullmatch('[0-9T:.+ Z-]+', as_of) -%}
        {{ exceptions.raise_compiler_error('CRM_KPI_AS_OF is not an ISO-8601 instant: ' ~ as_of) }}
    {%- endif -%}
    cast('{{ as_of or run_started_at.isoformat() }}' as timestamptz)
{%- endmacro %}


-- The as_of day in the reporting time zone: the daily snapshot's date.
{% macro kpi_as_of_date() -%}
    {{ to_reporting_date(kpi_as_of()) }}
{%- endmacro %}


-- Whether a record falls in the `days` days up to as_of: by its instant where the CRM has one
-- (the `days` x 24 hours before as_of), else by its day (the `days` days ending on as_of's day
-- in the reporting time zone; Salesforce's CloseDate and ActivityDate are days, not instants).
-- Neither: it does not. Where the instant is set the day is never read, so a CRM with instants
-- (HubSpot) gets exactly the instant window.
{% macro dated_within_days_before_as_of(instant, day, days) -%}
    coalesce(
        {{ instant }} > {{ kpi_as_of() }} - interval {{ days }} day
        and {{ instant }} <= {{ kpi_as_of() }},
        {{ day }} > {{ days_before(kpi_as_of_date(), days) }}
        and {{ day }} <= {{ kpi_as_of_date() }}
    )
{%- endmacro %}


-- Whether a record is dated before as_of: its instant where the CRM has one, else its day before
-- as_of's day in the reporting time zone (a deal due today is not overdue yet).
{% macro dated_before_as_of(instant, day) -%}
    coalesce({{ instant }} < {{ kpi_as_of() }}, {{ day }} < {{ kpi_as_of_date() }})
{%- endmacro %}
