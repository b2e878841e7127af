-- Salesforce opportunities as the contract's deals. Probability is the deal's own (a rep may
-- override the stage's). CloseDate is a calendar date: closed_on as is, no close instant. The
-- value in the company currency is converted here, in a view, so a change of rates applies to
-- every deal at the next build: Amount / ConversionRate of the deal's CurrencyIsoCode
-- (CurrencyType, multi-currency orgs), else Amount (a single-currency org has no CurrencyIsoCode).
-- A deal's loaded_at is its opportunity's or its latest history row's load, whichever is later:
-- a history row that arrives a sync after its opportunity still gets the deal's stages redone.

with

opportunities as (

    select * from {{ ref('stg_salesforce__opportunities') }}

),

currency_types as (

    select * from {{ ref('stg_salesforce__currency_types') }}

),

history_loads as (

    select
        opportunity_id,
        max(loaded_at) as loaded_at
    from {{ ref('stg_salesforce__opportunity_history') }}
    group by opportunity_id

),

non_rep_users as (

    select * from {{ ref('stg_salesforce__users') }}
    where user_type is distinct from 'Standard'

),

mapped as (

    select

        ---------- ids
        opportunities.opportunity_id as deal_id,
        {{ salesforce_rep_owner_id('opportunities.owner_id', 'non_rep_users.user_id') }}
            as owner_id,
        coalesce(opportunities.record_type_id, 'default') as pipeline_id,
        opportunities.stage_name as stage_id,
        'opportunities' as crm_object,

        ---------- amounts
        case
            when opportunities.currency_code is null then opportunities.amount
            when currency_types.conversion_rate > 0
                then {{
                    decimal_from_double(
                        round_double(
                            'opportunities.amount / currency_types.conversion_rate', 2
                        ),
                        18, 2
                    )
                }}
        end as amount_home,
        opportunities.probability,

        ---------- timestamps and days
        opportunities.created_at,
        cast(null as {{ type_instant() }}) as closed_at,
        opportunities.created_on,
        opportunities.close_date as closed_on,
        greatest(
            opportunities.loaded_at,
            coalesce(history_loads.loaded_at, opportunities.loaded_at)
        ) as loaded_at,

        ---------- booleans
        -- A currency without a rate: the amount cannot be converted, so the deal has none and is
        -- quarantined (amount_not_a_number) rather than counted in the wrong currency.
        opportunities.amount is not null
        and opportunities.currency_code is not null
        and not coalesce(currency_types.conversion_rate > 0, false) as has_malformed_amount,
        -- The close date against the create day in the reporting time zone, both calendar days.
        coalesce(
            opportunities.close_date < opportunities.created_on, false
        ) as is_closed_before_created,
        opportunities.is_archived,

        ---------- source
        'salesforce' as source_system

    from opportunities
    left join currency_types
        on opportunities.currency_code = currency_types.currency_code
    left join history_loads
        on opportunities.opportunity_id = history_loads.opportunity_id
    left join non_rep_users
        on opportunities.owner_id = non_rep_users.user_id

)

select * from mapped
