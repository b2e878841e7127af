-- KPI formulas used by more than one mart (rep and team, week and quarter): written once here and
-- proven by the unit tests in models/marts/_marts__unit_tests.yml.

-- won / (won + lost), of counts or of amounts; null when nothing closed.
{% macro win_rate(won, lost) -%}
    {{ divide(won, 'nullif(' ~ won ~ ' + ' ~ lost ~ ', 0)') }}
{%- endmacro %}


-- Average won deal in money, to the cent; null when nothing was won.
{% macro avg_won_deal_size(won_amount, deals_won) -%}
    {{ decimal_from_double(divide(won_amount, 'nullif(' ~ deals_won ~ ', 0)'), 18, 2) }}
{%- endmacro %}


-- won / quota; null without a quota (or with a quota of 0).
{% macro attainment(won_amount, quota_amount) -%}
    {{ divide(won_amount, 'nullif(' ~ quota_amount ~ ', 0)') }}
{%- endmacro %}


-- Open pipeline / what is left of the quota; null without a quota or when nothing is left.
{% macro pipeline_coverage(open_amount, quota_amount, won_amount) -%}
    {%- set left = quota_amount ~ ' - ' ~ won_amount -%}
    {{ divide(open_amount, 'case when ' ~ left ~ ' > 0 then ' ~ left ~ ' end') }}
{%- endmacro %}
