-- HubSpot deals as the contract's deals. A HubSpot deal's probability is its stage's; its value
-- in the company currency is amount_in_home_currency where the portal converts, else amount.

with

deals as (

    select * from {{ ref('stg_hubspot__deals') }}

),

stages as (

    select * from {{ ref('stg_hubspot__deal_stages') }}

),

mapped as (

    select

        ---------- ids
        deals.deal_id,
        deals.owner_id,
        deals.pipeline_id,
        deals.stage_id,
        'deals' as crm_object,

        ---------- amounts
        coalesce(deals.amount_in_home_currency, deals.amount) as amount_home,
        stages.probability,

        ---------- timestamps and days
        deals.created_at,
        deals.closed_at,
        deals.created_on,
        deals.closed_on,
        deals.loaded_at,

        ---------- booleans
        -- An amount that is text, not a number ("TBD", "12k"): staging read it as null.
        (deals.amount_text is not null and deals.amount is null)
        or (
            deals.amount_in_home_currency_text is not null
            and deals.amount_in_home_currency is null
        ) as has_malformed_amount,
        -- Compared as UTC days: HubSpot's date picker stores a close date at midnight UTC, so a
        -- deal created at 14:00 and closed "today" has a close instant before its create instant.
        coalesce(
            cast({{ local_timestamp('UTC', 'deals.closed_at') }} as date)
            < cast({{ local_timestamp('UTC', 'deals.created_at') }} as date),
            false
        ) as is_closed_before_created,
        deals.is_archived,

        ---------- source
        'hubspot' as source_system

    from deals
    left join stages
        on
            deals.pipeline_id = stages.pipeline_id
            and deals.stage_id = stages.stage_id

)

select * from mapped
