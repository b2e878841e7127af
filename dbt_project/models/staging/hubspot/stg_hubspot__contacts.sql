with

source as (

    select * from {{ source('hubspot', 'contacts') }}

),

renamed as (

    select

        ---------- ids
        id as contact_id,
        {{ hubspot_property('hubspot_owner_id') }} as owner_id,
        {{ hubspot_association_ids('companies') }} as company_ids,

        ---------- text (first_name, last_name and email are PII: keep them out of marts)
        {{ hubspot_property('firstname') }} as first_name,
        {{ hubspot_property('lastname') }} as last_name,
        {{ hubspot_property('email') }} as email,
        {{ hubspot_property('lifecyclestage') }} as lifecycle_stage,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp(hubspot_property('createdate')) }} as created_at,
        updated_at

    from source

)

select * from renamed
