-- Dates and instants where DuckDB and Postgres spell them differently. The reporting time zone's
-- conversions (timezone(zone, instant)) and `at time zone` read the same on both.

-- The first day of the `part` ('week': Monday, 'quarter') holding a day or a local timestamp,
-- as a date. Postgres would read a date as an instant in the session's time zone: a timestamp.
{% macro truncate_to_date(part, expression) -%}
    {{ return(adapter.dispatch('truncate_to_date', 'crm_kpi')(part, expression)) }}
{%- endmacro %}

{% macro duckdb__truncate_to_date(part, expression) -%}
    cast(date_trunc('{{ part }}', {{ expression }}) as date)
{%- endmacro %}

{% macro postgres__truncate_to_date(part, expression) -%}
    cast(date_trunc('{{ part }}', cast({{ expression }} as timestamp)) as date)
{%- endmacro %}


-- A quarter's label, "2026-Q4", from a date.
{% macro quarter_label(date_column) -%}
    {{ return(adapter.dispatch('quarter_label', 'crm_kpi')(date_column)) }}
{%- endmacro %}

{% macro duckdb__quarter_label(date_column) -%}
    strftime({{ date_column }}, '%Y') || '-Q' || cast(quarter({{ date_column }}) as varchar)
{%- endmacro %}

{% macro postgres__quarter_label(date_column) -%}
    to_char({{ date_column }}, 'YYYY') || '-Q' || to_char({{ date_column }}, 'Q')
{%- endmacro %}


-- Whole days from one calendar day to another (negative when the second is earlier), a bigint.
{% macro days_between(start_day, end_day) -%}
    {{ return(adapter.dispatch('days_between', 'crm_kpi')(start_day, end_day)) }}
{%- endmacro %}

{% macro duckdb__days_between(start_day, end_day) -%}
    date_diff('day', {{ start_day }}, {{ end_day }})
{%- endmacro %}

{% macro postgres__days_between(start_day, end_day) -%}
    cast({{ end_day }} - {{ start_day }} as bigint)
{%- endmacro %}


-- Seconds from one instant to another as DuckDB's date_diff('second', ...) counts them: the
-- whole seconds of each instant's epoch, subtracted (a bigint; 0.9 s to 1.1 s is 1).
{% macro seconds_between(start_instant, end_instant) -%}
    {{ return(adapter.dispatch('seconds_between', 'crm_kpi')(start_instant, end_instant)) }}
{%- endmacro %}

{% macro duckdb__seconds_between(start_instant, end_instant) -%}
    date_diff('second', {{ start_instant }}, {{ end_instant }})
{%- endmacro %}

{% macro postgres__seconds_between(start_instant, end_instant) -%}
    cast(
        trunc(extract(epoch from {{ end_instant }}))
        - trunc(extract(epoch from {{ start_instant }}))
        as bigint
    )
{%- endmacro %}


-- The instant `milliseconds` (a bigint) after the Unix epoch, as a timestamptz.
{% macro epoch_ms_to_instant(milliseconds) -%}
    {{ return(adapter.dispatch('epoch_ms_to_instant', 'crm_kpi')(milliseconds)) }}
{%- endmacro %}

{% macro duckdb__epoch_ms_to_instant(milliseconds) -%}
    epoch_ms({{ milliseconds }}) at time zone 'UTC'
{%- endmacro %}

{% macro postgres__epoch_ms_to_instant(milliseconds) -%}
    (timestamptz '1970-01-01 00:00:00+00' + {{ milliseconds }} * interval '1 millisecond')
{%- endmacro %}


-- The timestamps from `first` to `last` (both included) every `step` (an interval literal such
-- as interval '7 days'), as a FROM item: `cross join period_series(..) as series (period_start)`. Days are read as local timestamps on both engines (Postgres would otherwise
-- pick its timestamptz series in the session's time zone).
{% macro period_series(first, last, step) -%}
    generate_series(cast({{ first }} as timestamp), cast({{ last }} as timestamp), {{ step }})
{%- endmacro %}
