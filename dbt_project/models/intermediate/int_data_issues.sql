-- Records the KPIs must not count because the CRM holds something impossible for them: one row
-- per live record and problem (a record can have several). Every KPI excludes these records, and
-- kpi_data_issues lists them so that sales ops can fix them in the CRM. Ids and codes only: no
-- names, e-mail addresses or amounts, so the list can be published with the KPIs.
-- A table, not a view: finding the issues reads every deal and activity, and most models and
-- tests downstream exclude them; as a view that scan ran once per reader (15 times a build).
{{ config(materialized='table') }}

with

owners as (

    select * from {{ ref('crm_owners') }}

),

-- NOT MATERIALIZED: these two are read twice each, and copying ten million rows to share them
-- cost more than scanning the tables twice (measured: ~0.9 s against ~0.5 s a build).
live_activities as {{ cte_not_materialized() }} (

    select
        crm_object,
        activity_id,
        owner_id,
        occurred_on
    from {{ ref('crm_activities') }}
    where not is_archived

),

live_deals as {{ cte_not_materialized() }} (

    select
        crm_object,
        deal_id,
        owner_id,
        amount_home,
        has_malformed_amount,
        is_closed_before_created
    from {{ ref('crm_deals') }}
    where not is_archived

),

deal_issues as (

    select
        'deal' as record_kind,
        crm_object as object_type,
        deal_id as record_id,
        case
            when has_malformed_amount then 'amount_not_a_number'
            when amount_home < 0 then 'negative_amount'
            when amount_home > {{ var('max_deal_amount') }} then 'absurd_amount'
        end as issue
    from live_deals

    union all

    select
        'deal' as record_kind,
        crm_object as object_type,
        deal_id as record_id,
        'closed_before_created' as issue
    from live_deals
    where is_closed_before_created

),

activity_issues as (

    -- No day to count the activity on.
    select
        'activity' as record_kind,
        crm_object as object_type,
        activity_id as record_id,
        'missing_timestamp' as issue
    from live_activities
    where occurred_on is null

),

owned_records as (

    select
        'deal' as record_kind,
        crm_object as object_type,
        deal_id as record_id,
        owner_id
    from live_deals
    union all
    select
        'activity' as record_kind,
        crm_object as object_type,
        activity_id as record_id,
        owner_id
    from live_activities

),

unknown_owner_issues as (

    -- An owner id the CRM does not list, not even as deactivated: nobody can be coached on it.
    -- Records without an owner are not issues (shared inboxes, unassigned leads).
    select
        owned_records.record_kind,
        owned_records.object_type,
        owned_records.record_id,
        'unknown_owner' as issue
    from owned_records
    left join owners
        on owned_records.owner_id = owners.owner_id
    where
        owned_records.owner_id is not null
        and owners.owner_id is null

),

issues as (

    select * from deal_issues
    where issue is not null
    union all
    select * from activity_issues
    union all
    select * from unknown_owner_issues

)

select * from issues
