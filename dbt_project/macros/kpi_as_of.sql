-- The instant every KPI is computed as of: CRM_KPI_AS_OF (ISO-8601 with an offset) when set, so a
-- past day can be replayed, else the start of this dbt invocation. One value per invocation, so
-- every mart built together carries the same as_of.
{% macro kpi_as_of() -%}
    {%- set as_of = env_var('CRM_KPI_AS_OF', '') | trim -%}
    {%- if as_of and not modules.re.fullmatch('[0-9T:.+ Z-]+', as_of) -%}
        {{ exceptions.raise_compiler_error('CRM_KPI_AS_OF is not an ISO-8601 instant: ' ~ as_of) }}
    {%- endif -%}
    cast('{{ as_of or run_started_at.isoformat() }}' as {{ type_instant() }})
{%- endmacro %}


-- The as_of day in the reporting time zone: the daily snapshot's date.
{% macro kpi_as_of_date() -%}
    {{ to_reporting_date(kpi_as_of()) }}
{%- endmacro %}


-- Whether a day falls in the `days` days ending on as_of's day in the reporting time zone: "the
-- last 7 days" are today and the 6 before. By day, not by the hours before as_of, for every CRM:
-- Salesforce dates close and task dates by day only, and a manager's figure should not change
-- from hour to hour.
{% macro dated_within_days_before_as_of(day, days) -%}
    ({{ day }} > {{ days_before(kpi_as_of_date(), days) }} and {{ day }} <= {{ kpi_as_of_date() }})
{%- endmacro %}
