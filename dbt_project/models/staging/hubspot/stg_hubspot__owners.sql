with

source as (

    select * from {{ source('hubspot', 'owners') }}

),

teams as (

    select
        source.id as owner_id,
        {{ json_text('team.value', ['id']) }} as team_id,
        {{ json_text('team.value', ['name']) }} as team_name,
        coalesce({{ strict_cast(json_text('team.value', ['primary']), 'boolean') }}, false)
            as is_primary
    from source
    cross join {{ json_array_rows('source.record', ['teams']) }} as team

),

ranked_teams as (

    -- An owner can sit in several teams; HubSpot flags one as primary (else take the first id).
    select
        owner_id,
        team_id,
        team_name,
        row_number() over (
            partition by owner_id
            order by is_primary desc, {{ byte_order('team_id') }} asc
        ) as team_rank
    from teams

),

primary_teams as (

    select
        owner_id,
        team_id,
        team_name
    from ranked_teams
    where team_rank = 1

),

renamed as (

    select

        ---------- ids
        source.id as owner_id,
        {{ strict_cast(json_text('source.record', ['userId']), 'bigint') }} as user_id,
        primary_teams.team_id as primary_team_id,

        ---------- text
        {{ json_text('source.record', ['firstName']) }} as first_name,
        {{ json_text('source.record', ['lastName']) }} as last_name,
        -- Queues and some integrations have no name: fall back to the id, never to the email.
        coalesce(
            nullif(
                concat_ws(
                    ' ',
                    {{ json_text('source.record', ['firstName']) }},
                    {{ json_text('source.record', ['lastName']) }}
                ),
                ''
            ),
            'Owner ' || source.id
        ) as owner_name,
        {{ json_text('source.record', ['email']) }} as email,
        {{ json_text('source.record', ['type']) }} as owner_type,
        primary_teams.team_name as primary_team_name,

        ---------- booleans
        coalesce(source.archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp(json_text('source.record', ['createdAt'])) }} as created_at,
        source.updated_at

    from source
    left join primary_teams
        on source.id = primary_teams.owner_id

)

select * from renamed
