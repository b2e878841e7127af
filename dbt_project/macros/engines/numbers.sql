-- Numbers: where DuckDB and Postgres compute differently, each engine's spelling of the
-- DuckDB result (the published KPIs are DuckDB's; Postgres must give the same).

-- `expression` as `data_type`, or null when it is not one (DuckDB's try_cast): a malformed value
-- must not fail the build. Postgres has no try_cast: decimal(p, s) is parsed by a regular
-- expression accepting what DuckDB accepts (spaces around, a sign, '.5', '5.', an exponent,
-- underscores between digits) and null when it overflows, as DuckDB's (an exponent of more than
-- four digits reads as null: beyond any decimal(18, 2) either way).
{% macro try_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast', 'crm_kpi')(expression, data_type)) }}
{%- endmacro %}

{% macro duckdb__try_cast(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{% macro postgres__try_cast(expression, data_type) -%}
    {%- set decimal = modules.re.fullmatch(
        '\s*(decimal|numeric)\s*\(\s*([0-9]+)\s*,\s*([0-9]+)\s*\)\s*', data_type | lower
    ) -%}
    {%- if not decimal -%}
        {{ exceptions.raise_compiler_error(
            'try_cast on postgres handles decimal(p, s) only, not ' ~ data_type
        ) }}
    {%- endif -%}
    {%- set precision, scale = decimal.group(2) | int, decimal.group(3) | int -%}
    {%- set digits = '[0-9]+(_[0-9]+)*' -%}
    {%- set pattern = '^\s*[+-]?(' ~ digits ~ '(\.(' ~ digits ~ ')?)?|\.' ~ digits ~ ')'
        ~ '([eE][+-]?[0-9](_?[0-9]){0,3})?\s*$' -%}
    {%- set parsed = 'cast(replace(' ~ expression ~ ", '_', '') as numeric)" -%}
    {#- Nested, not `and`: Postgres may evaluate either side of an `and` first (and folds a
        constant one while planning), so the cast must sit behind the pattern's test. #}
    case
        when {{ expression }} ~ '{{ pattern }}'
            then case
                when abs(round({{ parsed }}, {{ scale }})) < 1e{{ precision - scale }}
                    then cast({{ parsed }} as numeric({{ precision }}, {{ scale }}))
            end
    end
{%- endmacro %}


-- numerator / denominator as a double, whatever their types: DuckDB's `/` (integers and
-- decimals divide to a double there; Postgres divides integers to an integer).
{% macro divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('divide', 'crm_kpi')(numerator, denominator)) }}
{%- endmacro %}

{% macro duckdb__divide(numerator, denominator) -%}
    {{ numerator }} / {{ denominator }}
{%- endmacro %}

{% macro postgres__divide(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / cast({{ denominator }} as double precision)
{%- endmacro %}


-- A double as decimal(precision, scale), rounded as DuckDB casts: half away from zero, of the
-- double times 10^scale (Postgres converts a double through 15 significant digits instead, so
-- 1.005 would become 1.01 there and 1.00 in DuckDB).
{% macro decimal_from_double(expression, precision, scale) -%}
    {{ return(adapter.dispatch('decimal_from_double', 'crm_kpi')(expression, precision, scale)) }}
{%- endmacro %}

{% macro duckdb__decimal_from_double(expression, precision, scale) -%}
    cast({{ expression }} as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}

{% macro postgres__decimal_from_double(expression, precision, scale) -%}
    cast(
        cast(cast({{ crm_kpi.postgres__round_double(expression, scale, scaled=true) }} as bigint)
            as numeric) / {{ 10 ** scale }}
        as numeric({{ precision }}, {{ scale }})
    )
{%- endmacro %}


-- A double rounded to `digits` decimals, half away from zero, as DuckDB's round(double, n)
-- (Postgres has no round(double precision, integer), and its round(double) rounds half to even).
{% macro round_double(expression, digits) -%}
    {{ return(adapter.dispatch('round_double', 'crm_kpi')(expression, digits)) }}
{%- endmacro %}

{% macro duckdb__round_double(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{% macro postgres__round_double(expression, digits, scaled=false) -%}
    {%- set factor = 'cast(' ~ (10 ** digits) ~ ' as double precision)' -%}
    {%- set value = '(cast(' ~ expression ~ ' as double precision) * ' ~ factor ~ ')' -%}
    (sign({{ value }}) * floor(abs({{ value }}) + 0.5){{ '' if scaled else ' / ' ~ factor }})
{%- endmacro %}


-- The median of a group (an aggregate; Postgres has no median, nor ordered-set aggregates as
-- window functions: compute it grouped and join it back).
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'crm_kpi')(expression)) }}
{%- endmacro %}

{% macro duckdb__median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{% macro postgres__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
