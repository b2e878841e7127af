-- Live calls, emails, meetings and tasks in one shape, one row per engagement.

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

unioned as (

    select
        'call' as engagement_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        is_archived
    from calls

    union all

    select
        'email' as engagement_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        is_archived
    from emails

    union all

    select
        'meeting' as engagement_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        is_archived
    from meetings

    union all

    select
        'task' as engagement_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at,
        is_archived
    from tasks

),

live as (

    select
        engagement_type,
        engagement_id,
        owner_id,
        deal_ids,
        occurred_at
    from unioned
    where not is_archived

)

select * from live
