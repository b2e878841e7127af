-- The ids of the quarantined records of one kind, `deal` or `activity` (int_data_issues): what
-- no KPI counts. For `... not in ({{ quarantined_ids('deal') }})`.
{% macro quarantined_ids(record_kind) -%}
    select distinct issues.record_id
    from {{ ref('int_data_issues') }} as issues
    where issues.record_kind = '{{ record_kind }}'
{%- endmacro %}
