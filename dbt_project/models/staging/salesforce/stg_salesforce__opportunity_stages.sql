with

source as (

    select * from {{ source('salesforce', 'opportunity_stages') }}

),

renamed as (

    select

        ---------- ids
        id as opportunity_stage_id,
        -- What Opportunity.StageName and OpportunityHistory.StageName hold.
        {{ salesforce_text('ApiName') }} as api_name,

        ---------- text
        {{ salesforce_text('MasterLabel') }} as stage_label,

        ---------- numerics
        {{ salesforce_number('SortOrder', 'integer') }} as sort_order,
        -- Salesforce's percent (0 to 100) as a fraction (0 to 1), HubSpot's scale.
        {{ salesforce_number('DefaultProbability') }} / 100 as default_probability,

        ---------- booleans
        coalesce({{ salesforce_boolean('IsActive') }}, false) as is_active,
        coalesce({{ salesforce_boolean('IsClosed') }}, false) as is_closed,
        coalesce({{ salesforce_boolean('IsWon') }}, false) as is_won,
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        updated_at

    from source

)

select * from renamed
