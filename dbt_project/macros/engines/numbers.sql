-- Numbers: where DuckDB, Postgres and Spark compute differently, each engine's spelling of the
-- DuckDB result (the published KPIs are DuckDB's; every other engine must give the same).

-- `expression` as `data_type`, or null when it is not one (DuckDB's try_cast): a malformed value
-- must not fail the build. Postgres has no try_cast, and Spark's accepts less than DuckDB's (no
-- '1_000'): there decimal(p, s) is parsed by a regular expression accepting what DuckDB accepts
-- (spaces around, a sign, '.5', '5.', an exponent, underscores between digits) and null when it
-- overflows, as DuckDB's (an exponent of more than four digits reads as null: beyond any
-- decimal(18, 2) either way).
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
    {%- set pattern = crm_kpi.decimal_text_pattern() -%}
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

{#- Spark: its try_cast rounds half up as DuckDB and is null on overflow (in ANSI mode or not). #}
{% macro spark__try_cast(expression, data_type) -%}
    {%- if modules.re.fullmatch('\s*(decimal|numeric)\s*\(.*', data_type | lower) -%}
        {#- A backslash escapes in Spark's string literals: doubled, the pattern reads as is. #}
        {%- set pattern = crm_kpi.decimal_text_pattern() | replace('\\', '\\\\') -%}
        case
            when {{ expression }} rlike '{{ pattern }}'
                then try_cast(replace({{ expression }}, '_', '') as {{ data_type }})
        end
    {%- else -%}
        try_cast({{ expression }} as {{ data_type }})
    {%- endif -%}
{%- endmacro %}

{#- Text DuckDB's try_cast reads as a decimal, as an anchored regular expression. #}
{% macro decimal_text_pattern() -%}
    {%- set digits = '[0-9]+(_[0-9]+)*' -%}
    {{ return('^\s*[+-]?(' ~ digits ~ '(\.(' ~ digits ~ ')?)?|\.' ~ digits ~ ')'
        ~ '([eE][+-]?[0-9](_?[0-9]){0,3})?\s*$') }}
{%- endmacro %}


-- `expression` (CRM text) as `data_type`, failing the build on a value that is not one, as a
-- plain cast does on DuckDB and Postgres. Spark's cast with ANSI mode off (Spark 3's default,
-- and what dbt-spark asks for) reads it as null instead and the bad value passes unseen: there,
-- whatever the mode, raise_error stops the query and names the value. Use try_cast where a bad
-- value must be kept and quarantined.
{% macro strict_cast(expression, data_type) -%}
    {{ return(adapter.dispatch('strict_cast', 'crm_kpi')(expression, data_type)) }}
{%- endmacro %}

{% macro default__strict_cast(expression, data_type) -%}
    cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{#- try_cast has ANSI semantics whatever the session's mode: '1.5' is no integer, as on DuckDB. #}
{% macro spark__strict_cast(expression, data_type) -%}
    coalesce(
        try_cast({{ expression }} as {{ data_type }}),
        case
            when {{ expression }} is not null
                then raise_error(
                    concat('Could not convert ''', {{ expression }}, ''' to {{ data_type }}')
                )
        end
    )
{%- endmacro %}


-- numerator / denominator as a double, whatever their types: DuckDB's `/` (integers and
-- decimals divide to a double there; Postgres divides integers to an integer, Spark decimals
-- to a decimal).
{% macro divide(numerator, denominator) -%}
    {{ return(adapter.dispatch('divide', 'crm_kpi')(numerator, denominator)) }}
{%- endmacro %}

{% macro duckdb__divide(numerator, denominator) -%}
    {{ numerator }} / {{ denominator }}
{%- endmacro %}

{% macro postgres__divide(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / cast({{ denominator }} as double precision)
{%- endmacro %}

{% macro spark__divide(numerator, denominator) -%}
    cast({{ numerator }} as double) / cast({{ denominator }} as double)
{%- endmacro %}


-- A double as decimal(precision, scale), rounded as DuckDB casts: half away from zero, of the
-- double times 10^scale (Postgres converts a double through 15 significant digits instead, and
-- Spark through its shortest decimal text, so 1.005 would become 1.01 there and 1.00 in DuckDB).
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

{#- Spark: the scaled, rounded double is a whole number, which converts exactly. As decimal(28, 0)
    (not 38): Spark cuts a quotient's scale to 6 when its precision would pass 38, and 10^9 is
    a decimal(10, 0), so 28 digits leave room for scale 10. #}
{% macro spark__decimal_from_double(expression, precision, scale) -%}
    cast(
        cast({{ crm_kpi.spark__round_double(expression, scale, scaled=true) }} as decimal(28, 0))
        / {{ 10 ** scale }}
        as decimal({{ precision }}, {{ scale }})
    )
{%- endmacro %}


-- A double rounded to `digits` decimals, half away from zero, as DuckDB's round(double, n)
-- (Postgres has no round(double precision, integer), and its round(double) rounds half to even;
-- Spark's round(double, n) rounds the shortest decimal text, 1.005 to 1.01).
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

{% macro spark__round_double(expression, digits, scaled=false) -%}
    {%- set factor = 'cast(' ~ (10 ** digits) ~ ' as double)' -%}
    {%- set value = '(cast(' ~ expression ~ ' as double) * ' ~ factor ~ ')' -%}
    (sign({{ value }}) * cast(floor(abs({{ value }}) + 0.5) as double)
        {{- '' if scaled else ' / ' ~ factor }})
{%- endmacro %}


-- The median of a group (an aggregate; Postgres has no median, nor ordered-set aggregates as
-- window functions: compute it grouped and join it back). Spark's median is DuckDB's: the
-- middle value, or the mean of the two middle ones, as a double.
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'crm_kpi')(expression)) }}
{%- endmacro %}

{% macro duckdb__median(expression) -%}
    median({{ expression }})
{%- endmacro %}

{% macro postgres__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}

{% macro spark__median(expression) -%}
    median({{ expression }})
{%- endmacro %}


-- The double type, for casts: `double precision` (SQL's spelling; Postgres knows no `double`),
-- Spark's `double` (it knows no `double precision`).
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'crm_kpi')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}
