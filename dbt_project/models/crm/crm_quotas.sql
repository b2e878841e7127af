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

matched as (

    select
        owners.owner_id,
        quotas.quarter,
        quotas.quota_amount,
        quotas.quarter_start,
        row_number() over (
            partition by quotas.owner_email, quotas.quarter
            order by owners.is_archived asc, {{ byte_order('owners.owner_id') }} asc
        ) as owner_rank
    from quotas
    left join owners
        on quotas.owner_email = lower(owners.email)

),

joined as (

    select

        ---------- ids
        owner_id,

        ---------- text
        quarter,

        ---------- numerics
        quota_amount,

        ---------- dates
        quarter_start,

        ---------- source
        'quotas_file' as source_system

    from matched
    where owner_rank = 1

)

select * from joined
