-- Quotas from the quotas file matched to the CRM's owners by email (case-insensitive), for every
-- CRM alike: the only place emails meet owners, so none reaches a mart. Should two owners share
-- an email, the active one (else the lowest id) wins. A quota whose email no owner has keeps a
-- null owner_id, so a warning test can report it.

with

quotas as (

    select * from {{ ref('stg_quotas__quotas') }}

),

owners as (

    select * from {{ ref('crm_owners') }}

),

joined as (

    select

        ---------- ids
        owners.owner_id,

        ---------- text
        quotas.quarter,

        ---------- numerics
        quotas.quota_amount,

        ---------- dates
        quotas.quarter_start,

        ---------- source
        'quotas_file' as source_system

    from quotas
    left join owners
        on quotas.owner_email = lower(owners.email)
    qualify row_number() over (
        partition by quotas.owner_email, quotas.quarter
        order by owners.is_archived asc, owners.owner_id asc
    ) = 1

)

select * from joined
