-- Salesforce tasks and events as one list of activities. A task is a call or an email by its
-- TaskSubtype (macro salesforce_task_activity_types), else a task; an event is a meeting, and an
-- invitee's child copy (IsChild) is dropped so a meeting counts once, for its owner. Dates follow
-- Salesforce: ActivityDate is a calendar date, counted as is (no instant); a task without one
-- counts on its creation, an event on its start (its ActivityDate when all-day). Records owned
-- by a Queue or by a user who is no rep stay, unowned (macro salesforce_rep_owner_id).

with

tasks as (

    select * from {{ ref('stg_salesforce__tasks') }}

),

events as (

    select * from {{ ref('stg_salesforce__events') }}

),

non_rep_users as (

    select * from {{ ref('stg_salesforce__users') }}
    where user_type is distinct from 'Standard'

),

typed_tasks as (

    select
        tasks.*,
        case tasks.task_subtype
            {%- for subtype, activity_type in salesforce_task_activity_types().items() %}
                when '{{ subtype }}' then '{{ activity_type }}'
            {%- endfor %}
            else 'task'
        end as activity_type,
        non_rep_users.user_id as non_rep_user_id
    from tasks
    left join non_rep_users
        on tasks.owner_id = non_rep_users.user_id

),

task_activities as (

    select

        ---------- ids
        task_id as activity_id,
        'tasks' as crm_object,
        {{ salesforce_rep_owner_id('owner_id', 'non_rep_user_id') }} as owner_id,

        ---------- text
        activity_type,

        ---------- timestamps and days
        case when activity_date is null then created_at end as occurred_at,
        coalesce(activity_date, created_on) as occurred_on,

        ---------- booleans
        -- A task done; calls and emails count whatever their status, as HubSpot's (null).
        case when activity_type = 'task' then is_closed end as is_completed,
        is_archived,

        ---------- source
        'salesforce' as source_system

    from typed_tasks

),

event_activities as (

    select

        ---------- ids
        events.event_id as activity_id,
        'events' as crm_object,
        {{ salesforce_rep_owner_id('events.owner_id', 'non_rep_users.user_id') }} as owner_id,

        ---------- text
        'meeting' as activity_type,

        ---------- timestamps and days
        case when not events.is_all_day then events.started_at end as occurred_at,
        case
            when events.is_all_day then events.activity_date
            else events.started_on
        end as occurred_on,

        ---------- booleans
        -- Held: it has ended by the run's as_of.
        coalesce(events.ended_at <= {{ kpi_as_of() }}, false) as is_completed,
        events.is_archived,

        ---------- source
        'salesforce' as source_system

    from events
    left join non_rep_users
        on events.owner_id = non_rep_users.user_id
    where not events.is_child

),

unioned as (

    select * from task_activities
    union all
    select * from event_activities

)

select * from unioned
