-- Salesforce users as the contract's owners: Standard users only, the people who sell. Queues and
-- other users (integration, automated process, partner portal) own records without selling, so
-- the mapping gives their records no owner (crm_deals, crm_activities) and lists none of them
-- here: no rep row, no coaching row. A deactivated user is a departed rep, history kept.

with

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

mapped as (

    select

        ---------- ids
        user_id as owner_id,
        -- A user's role is their team; no role, no team.
        user_role_id as team_id,

        ---------- text
        user_name as owner_name,
        email,
        'PERSON' as owner_type,

        ---------- booleans
        true as is_rep,
        not is_active or is_archived as is_archived,

        ---------- source
        'salesforce' as source_system

    from users
    where user_type = 'Standard'

)

select * from mapped
