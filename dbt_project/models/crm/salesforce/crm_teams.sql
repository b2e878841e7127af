-- Salesforce roles as teams: a rep's UserRole is their team, named as the role. Only roles some
-- rep (Standard user) holds: a role nobody sells in is no sales team.

with

roles as (

    select * from {{ ref('stg_salesforce__user_roles') }}

),

users as (

    select * from {{ ref('stg_salesforce__users') }}

),

mapped as (

    select

        ---------- ids
        user_role_id as team_id,

        ---------- text
        role_name as team_name,

        ---------- source
        'salesforce' as source_system

    from roles
    where user_role_id in (
        select users.user_role_id
        from users
        where users.user_type = 'Standard'
    )

)

select * from mapped
