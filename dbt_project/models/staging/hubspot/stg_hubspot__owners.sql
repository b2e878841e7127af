with

source as (

    select * from {{ source('hubspot', 'owners') }}

),

teams as (

    select
        source.id as owner_id,
        team.value ->> 'id' as team_id,
        team.value ->> 'name' as team_name,
        coalesce(cast(team.value ->> 'primary' as boolean), false) as is_primary
    from source
    cross join json_each(source.record, '$.teams') as team

),

primary_teams as (

    -- An owner can sit in several teams; HubSpot flags one as primary (else take the first id).
    select *
    from teams
    qualify row_number() over (
        partition by owner_id
        order by is_primary desc, team_id asc
    ) = 1

),

renamed as (

    select

        ---------- ids
        source.id as owner_id,
        cast(source.record ->> 'userId' as bigint) as user_id,
        primary_teams.team_id as primary_team_id,

        ---------- text
        source.record ->> 'firstName' as first_name,
        source.record ->> 'lastName' as last_name,
        -- Queues and some integrations have no name: fall back to the id, never to the email.
        coalesce(
            nullif(concat_ws(' ', source.record ->> 'firstName', source.record ->> 'lastName'), ''),
            'Owner ' || source.id
        ) as owner_name,
        source.record ->> 'email' as email,
        source.record ->> 'type' as owner_type,
        primary_teams.team_name as primary_team_name,

        ---------- booleans
        coalesce(source.archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp("source.record ->> 'createdAt'") }} as created_at,
        source.updated_at

    from source
    left join primary_teams
        on source.id = primary_teams.owner_id

)

select * from renamed
