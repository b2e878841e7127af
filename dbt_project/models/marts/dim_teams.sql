-- One row per team that is some owner's primary team, with how many active reps it has.

with

owners as (

    select * from {{ ref('crm_owners') }}

),

teams as (

    select * from {{ ref('crm_teams') }}

),

reps as (

    select
        team_id,
        count(*) filter (where not is_archived) as active_reps,
        count(*) filter (where is_archived) as deactivated_reps
    from owners
    group by team_id

),

final as (

    select

        ---------- ids
        teams.team_id,

        ---------- text
        teams.team_name,

        ---------- reps
        reps.active_reps,
        reps.deactivated_reps,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from teams
    inner join reps
        on teams.team_id = reps.team_id

)

select * from final
