-- One row per CRM owner, archived owners included, so every KPI row can be labelled. No email.

with

owners as (

    select * from {{ ref('crm_owners') }}

),

teams as (

    select * from {{ ref('crm_teams') }}

),

final as (

    select

        ---------- ids
        owners.owner_id,
        owners.team_id,

        ---------- text
        owners.owner_name,
        teams.team_name,
        owners.owner_type,

        ---------- booleans
        owners.is_archived,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from owners
    left join teams
        on owners.team_id = teams.team_id

)

select * from final
