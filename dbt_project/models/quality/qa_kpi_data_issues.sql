-- One row per CRM object whose records the KPIs count: its live records, how many of them are
-- quarantined (kpi_data_issues) and what share that is, and issues the quarantine list must
-- never hold (an unknown code; a missing object, record id, code or date).

with

live as (

    select
        crm_object as object_type,
        count(*) as live_records
    from {{ ref('crm_deals') }}
    where not is_archived
    group by crm_object

    union all

    select
        crm_object as object_type,
        count(*) as live_records
    from {{ ref('crm_activities') }}
    where not is_archived
    group by crm_object

),

quarantined as (

    select
        object_type,
        count(distinct record_id) as quarantined_records,
        count(*) filter (
            where issue not in ({{ sql_strings(data_issue_codes()) }})
        ) as unknown_issues,
        count(*) - count(record_id) as issues_without_record_id,
        count(*) filter (
            where issue is null or detected_at is null or as_of is null
        ) as incomplete_issues
    from {{ ref('kpi_data_issues') }}
    group by object_type

),

shares as (

    -- A full join: issues of an object without live records (or without an object at all)
    -- keep a row, so their share and gaps are seen too.
    select
        coalesce(live.object_type, quarantined.object_type) as object_type,
        coalesce(live.live_records, 0) as live_records,
        coalesce(quarantined.quarantined_records, 0) as quarantined_records,
        {{
            divide(
                'coalesce(quarantined.quarantined_records, 0)',
                'greatest(coalesce(live.live_records, 0), 1)'
            )
        }} as quarantined_share,
        coalesce(quarantined.unknown_issues, 0) as unknown_issues,
        coalesce(quarantined.issues_without_record_id, 0) as issues_without_record_id,
        coalesce(quarantined.incomplete_issues, 0) as incomplete_issues
    from live
    full outer join quarantined
        on live.object_type = quarantined.object_type

)

select * from shares
