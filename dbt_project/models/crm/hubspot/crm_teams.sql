-- HubSpot has no team listing: teams are known from the owners' records, each owner's primary
-- team naming it (every owner's record carries the team's name as HubSpot has it).

with

owners as (

    select * from {{ ref('stg_hubspot__owners') }}

),

mapped as (

    select

        ---------- ids
        primary_team_id as team_id,

        ---------- text
        max(primary_team_name) as team_name,

        ---------- source
        'hubspot' as source_system

    from owners
    where primary_team_id is not null
    group by primary_team_id

)

select * from mapped
