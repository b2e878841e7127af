-- One row per synced object: how long ago it synced, and its live records as the CRM counts
-- them (search's total over records created before the sync started, raw._crm_counts) against
-- the warehouse's. Missing records block publishing; records the CRM no longer has (deleted
-- outright, which only a full refresh sees) only warn.

with

sync_state as (

    select * from {{ raw_relation('_sync_state') }}

),

crm_counts as (

    select * from {{ raw_relation('_crm_counts') }}

),

warehouse as (

    select
        object_name,
        live_records
    from {{ ref('qa_raw_records') }}

),

reconciled as (

    select
        sync_state.object_name,
        -- now(): when the check reads this view, not when dbt built it.
        {{ divide(seconds_between('sync_state.synced_at', 'now()'), '3600.0') }}
            as hours_since_sync,
        crm_counts.crm_live_records,
        warehouse.live_records as warehouse_live_records,
        greatest(crm_counts.crm_live_records - warehouse.live_records, 0) as records_missing,
        greatest(warehouse.live_records - crm_counts.crm_live_records, 0) as records_not_in_crm
    from sync_state
    left join crm_counts
        on sync_state.object_name = crm_counts.object_name
    left join warehouse
        on sync_state.object_name = warehouse.object_name

)

select * from reconciled
