-- HubSpot owners as the contract's owners: users and queues, archived (deactivated) ones kept.

with

owners as (

    select * from {{ ref('stg_hubspot__owners') }}

),

mapped as (

    select

        ---------- ids
        owner_id,
        primary_team_id as team_id,

        ---------- text
        owner_name,
        email,
        owner_type,

        ---------- booleans
        -- Queues own records too, but nobody sells through them.
        coalesce(owner_type = 'PERSON', false) as is_rep,
        is_archived,

        ---------- source
        'hubspot' as source_system

    from owners

)

select * from mapped
