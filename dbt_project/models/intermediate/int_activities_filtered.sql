-- Live calls, emails, meetings and tasks that are not quarantined (int_data_issues): the
-- activities every KPI counts.

with

activities as (

    select * from {{ ref('crm_activities') }}

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
        -- Activity ids are unique across activity types (the contract says so).
        and activity_id not in ({{ quarantined_ids('activity') }})

)

select * from filtered
