-- One row per quarantined record and problem: what sales ops should fix in the CRM. These records
-- are left out of every other table.

with

issues as (

    select * from {{ ref('int_data_issues') }}

),

final as (

    select
        object_type,
        record_id,
        issue,
        -- The run that found the problem; a record still listed next run is still broken.
        {{ kpi_as_of() }} as detected_at,
        {{ kpi_as_of() }} as as_of
    from issues

)

select * from final
