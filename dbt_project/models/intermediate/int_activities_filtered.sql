-- Live calls, emails, meetings and tasks that are not quarantined (int_data_issues): the
-- activities every KPI counts.

with

activities as (

    select * from {{ ref('crm_activities') }}

),

quarantined as (

    select distinct
        object_type,
        record_id
    from {{ ref('int_data_issues') }}

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
        and (crm_object, activity_id) not in (
            select (quarantined.object_type, quarantined.record_id) from quarantined
        )

)

select * from filtered
