-- Dates and instants where DuckDB, Postgres and Spark spell them differently. An instant is a
-- timestamptz on DuckDB and Postgres; Spark's TIMESTAMP is one too (microseconds since the epoch,
-- shown in the session's time zone), and the spark target pins that zone to UTC
-- (profiles.yml), so text without an offset reads as UTC there as well.

-- The type of an instant, for casts: timestamptz, or Spark's timestamp (it has no timestamptz).
{% macro type_instant() -%}
    {{ return(adapter.dispatch('type_instant', 'crm_kpi')()) }}
{%- endmacro %}

{% macro default__type_instant() -%}timestamptz{%- endmacro %}

{% macro spark__type_instant() -%}timestamp{%- endmacro %}


-- An instant's wall-clock time in `zone`, a local timestamp (timezone(zone, instant) on DuckDB
-- and Postgres; Spark's from_utc_timestamp shifts from the session's zone, UTC).
{% macro local_timestamp(zone, instant) -%}
    {{ return(adapter.dispatch('local_timestamp', 'crm_kpi')(zone, instant)) }}
{%- endmacro %}

{% macro default__local_timestamp(zone, instant) -%}
    timezone('{{ zone }}', {{ instant }})
{%- endmacro %}

{% macro spark__local_timestamp(zone, instant) -%}
    from_utc_timestamp({{ instant }}, '{{ zone }}')
{%- endmacro %}


-- Text of a date and time without an offset ("2026-10-05 14:03:11") as the instant it is in UTC,
-- failing on text that is no timestamp (as DuckDB's cast does).
{% macro utc_text_to_instant(value) -%}
    {{ return(adapter.dispatch('utc_text_to_instant', 'crm_kpi')(value)) }}
{%- endmacro %}

{% macro default__utc_text_to_instant(value) -%}
    cast({{ value }} as timestamp) at time zone 'UTC'
{%- endmacro %}

{% macro spark__utc_text_to_instant(value) -%}
    {{ crm_kpi.strict_cast(value, 'timestamp') }}
{%- endmacro %}

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

{#- Spark's date_trunc gives a timestamp (weeks from Monday), in the session's zone both ways. #}
{% macro spark__truncate_to_date(part, expression) -%}
    {{ crm_kpi.duckdb__truncate_to_date(part, expression) }}
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

{% macro spark__quarter_label(date_column) -%}
    concat(date_format({{ date_column }}, 'yyyy'), '-Q', cast(quarter({{ date_column }}) as string))
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

{% macro spark__days_between(start_day, end_day) -%}
    cast(datediff({{ end_day }}, {{ start_day }}) as bigint)
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

{#- Spark's unix_timestamp(timestamp) is the whole seconds of the epoch. #}
{% macro spark__seconds_between(start_instant, end_instant) -%}
    (unix_timestamp({{ end_instant }}) - unix_timestamp({{ start_instant }}))
{%- endmacro %}


-- The instant `milliseconds` (a bigint) after the Unix epoch, as an instant (type_instant).
{% macro epoch_ms_to_instant(milliseconds) -%}
    {{ return(adapter.dispatch('epoch_ms_to_instant', 'crm_kpi')(milliseconds)) }}
{%- endmacro %}

{% macro duckdb__epoch_ms_to_instant(milliseconds) -%}
    epoch_ms({{ milliseconds }}) at time zone 'UTC'
{%- endmacro %}

{% macro postgres__epoch_ms_to_instant(milliseconds) -%}
    (timestamptz '1970-01-01 00:00:00+00' + {{ milliseconds }} * interval '1 millisecond')
{%- endmacro %}

{% macro spark__epoch_ms_to_instant(milliseconds) -%}
    timestamp_millis({{ milliseconds }})
{%- endmacro %}


-- The timestamps from `first` to `last` (both included) every `step` (an interval literal such
-- as interval '7 days'), as a FROM item: `cross join period_series(..) as series (period_start)`.
-- Days are read as local timestamps on every engine (Postgres would otherwise pick its
-- timestamptz series in the session's time zone). None when `last` is before `first`, as
-- generate_series gives (Spark's sequence would fail).
{% macro period_series(first, last, step) -%}
    {{ return(adapter.dispatch('period_series', 'crm_kpi')(first, last, step)) }}
{%- endmacro %}

{% macro default__period_series(first, last, step) -%}
    generate_series(cast({{ first }} as timestamp), cast({{ last }} as timestamp), {{ step }})
{%- endmacro %}

{% macro spark__period_series(first, last, step) -%}
    {%- set first_timestamp = 'cast(' ~ first ~ ' as timestamp)' -%}
    {%- set last_timestamp = 'cast(' ~ last ~ ' as timestamp)' -%}
    lateral explode(
        case
            when {{ first_timestamp }} <= {{ last_timestamp }}
                then sequence({{ first_timestamp }}, {{ last_timestamp }}, {{ step }})
        end
    )
{%- endmacro %}
