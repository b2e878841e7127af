-- One row per team that is some owner's primary team, with how many active reps it has.

with

owners as (

    select * from {{ ref('stg_hubspot__owners') }}

),

final as (

    select

        ---------- ids
        primary_team_id as team_id,

        ---------- text
        max(primary_team_name) as team_name,

        ---------- reps
        count(*) filter (where not is_archived) as active_reps,
        count(*) filter (where is_archived) as deactivated_reps,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from owners
    where primary_team_id is not null
    group by primary_team_id

)

select * from final
