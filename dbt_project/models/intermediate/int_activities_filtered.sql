-- Live calls, emails, meetings and tasks that are not quarantined (int_data_issues): the
-- activities every KPI counts.

with

activities as (

    select * from {{ ref('crm_activities') }}

),

quarantined as (

    -- Activity ids are unique across activity types (the contract says so).
    select distinct record_id as activity_id
    from {{ ref('int_data_issues') }}
    where record_kind = 'activity'

),

filtered as (

    select
        activity_id,
        activity_type,
        owner_id,
        occurred_at,
        occurred_on,
        is_completed
    from activities
    where
        not is_archived
        and activity_id not in (select quarantined.activity_id from quarantined)

)

select * from filtered
