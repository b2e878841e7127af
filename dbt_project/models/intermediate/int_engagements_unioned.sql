-- Live calls, emails, meetings and tasks that are not quarantined (int_data_issues), in one shape,
-- one row per engagement. is_completed says whether a meeting was held (outcome COMPLETED) or a
-- task done (status COMPLETED).

with

calls as (

    select * from {{ ref('stg_hubspot__calls') }}

),

emails as (

    select * from {{ ref('stg_hubspot__emails') }}

),

meetings as (

    select * from {{ ref('stg_hubspot__meetings') }}

),

tasks as (

    select * from {{ ref('stg_hubspot__tasks') }}

),

quarantined as (

    select distinct
        object_type,
        record_id
    from {{ ref('int_data_issues') }}
    where object_type != 'deals'

),

unioned as (

    select
        'call' as engagement_type,
        'calls' as object_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        occurred_on,
        cast(null as boolean) as is_completed,
        is_archived
    from calls

    union all

    select
        'email' as engagement_type,
        'emails' as object_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        occurred_on,
        cast(null as boolean) as is_completed,
        is_archived
    from emails

    union all

    select
        'meeting' as engagement_type,
        'meetings' as object_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        occurred_on,
        meeting_outcome = 'COMPLETED' as is_completed,
        is_archived
    from meetings

    union all

    select
        'task' as engagement_type,
        'tasks' as object_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        occurred_on,
        task_status = 'COMPLETED' as is_completed,
        is_archived
    from tasks

),

live as (

    select
        engagement_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        occurred_on,
        is_completed
    from unioned
    where
        not is_archived
        and (object_type, engagement_id) not in (
            select (quarantined.object_type, quarantined.record_id) from quarantined
        )

)

select * from live
