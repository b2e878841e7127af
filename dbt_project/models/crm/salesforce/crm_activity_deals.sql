-- Which opportunity each task or event is about: its WhatId when that is an Opportunity (key
-- prefix 006; WhatId may name an account or any other object instead). At most one per activity.

with

tasks as (

    select * from {{ ref('stg_salesforce__tasks') }}

),

events as (

    select * from {{ ref('stg_salesforce__events') }}

),

unioned as (

    select
        task_id as activity_id,
        what_id as deal_id,
        'salesforce' as source_system
    from tasks
    where {{ salesforce_key_prefix('what_id') }} = '006'

    union all

    -- Invitees' child copies are no activities (crm_activities).
    select
        event_id as activity_id,
        what_id as deal_id,
        'salesforce' as source_system
    from events
    where
        {{ salesforce_key_prefix('what_id') }} = '006'
        and not is_child

)

select * from unioned
