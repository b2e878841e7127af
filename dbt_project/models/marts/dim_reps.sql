-- One row per CRM owner, archived owners included, so every KPI row can be labelled. No email.

with

owners as (

    select * from {{ ref('stg_hubspot__owners') }}

),

final as (

    select

        ---------- ids
        owner_id,
        primary_team_id as team_id,

        ---------- text
        owner_name,
        primary_team_name as team_name,
        owner_type,

        ---------- booleans
        is_archived,

        ---------- timestamps
        {{ kpi_as_of() }} as as_of

    from owners

)

select * from final
