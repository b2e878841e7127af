-- Records the KPIs must not count because the CRM holds something impossible for them: one row
-- per live record and problem (a record can have several). Every KPI excludes these records, and
-- kpi_data_issues lists them so that sales ops can fix them in the CRM. Ids and codes only: no
-- names, e-mail addresses or amounts, so the list can be published with the KPIs.
-- A table, not a view: finding the issues reads every deal and activity, and most models and
-- tests downstream exclude them; as a view that scan ran once per reader (15 times a build).
{{ config(materialized='table') }}

with

deals as (

    select * from {{ ref('stg_hubspot__deals') }}

),

owners as (

    select * from {{ ref('stg_hubspot__owners') }}

),

-- NOT MATERIALIZED: these two are read twice each, and copying ten million rows to share them
-- cost more than scanning the staging tables twice (measured: ~0.9 s against ~0.5 s a build).
engagements as not materialized (

    select
        'calls' as object_type,
        engagement_id as record_id,
        owner_id,
        occurred_at
    from {{ ref('stg_hubspot__calls') }}
    where not is_archived

    union all

    select
        'emails' as object_type,
        engagement_id as record_id,
        owner_id,
        occurred_at
    from {{ ref('stg_hubspot__emails') }}
    where not is_archived

    union all

    select
        'meetings' as object_type,
        engagement_id as record_id,
        owner_id,
        occurred_at
    from {{ ref('stg_hubspot__meetings') }}
    where not is_archived

    union all

    select
        'tasks' as object_type,
        engagement_id as record_id,
        owner_id,
        occurred_at
    from {{ ref('stg_hubspot__tasks') }}
    where not is_archived

),

live_deals as not materialized (

    select
        deal_id,
        owner_id,
        amount_text,
        amount_in_home_currency_text,
        amount,
        amount_in_home_currency,
        coalesce(amount_in_home_currency, amount) as amount_home,
        created_at,
        closed_at
    from deals
    where not is_archived

),

deal_issues as (

    select
        deal_id as record_id,
        case
            -- The amount is text that is not a number ("TBD", "12k"): staging read it as null.
            when
                (amount_text is not null and amount is null)
                or (
                    amount_in_home_currency_text is not null
                    and amount_in_home_currency is null
                )
                then 'amount_not_a_number'
            when amount_home < 0 then 'negative_amount'
            when amount_home > {{ var('max_deal_amount') }} then 'absurd_amount'
        end as issue
    from live_deals

    union all

    -- Compared as UTC days: HubSpot's date picker stores a close date at midnight, so a deal
    -- created at 14:00 and closed "today" has a close instant before its create instant.
    select
        deal_id as record_id,
        'closed_before_created' as issue
    from live_deals
    where cast(timezone('UTC', closed_at) as date) < cast(timezone('UTC', created_at) as date)

),

engagement_issues as (

    select
        object_type,
        record_id,
        'missing_timestamp' as issue
    from engagements
    where occurred_at is null

),

owned_records as (

    select
        'deals' as object_type,
        deal_id as record_id,
        owner_id
    from live_deals
    union all
    select
        object_type,
        record_id,
        owner_id
    from engagements

),

unknown_owner_issues as (

    -- An owner id the CRM does not list, not even as deactivated: nobody can be coached on it.
    -- Records without an owner are not issues (shared inboxes, unassigned leads).
    select
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

    select
        'deals' as object_type,
        record_id,
        issue
    from deal_issues
    where issue is not null
    union all
    select * from engagement_issues
    union all
    select * from unknown_owner_issues

)

select * from issues
