with

source as (

    select * from {{ source('hubspot', 'companies') }}

),

renamed as (

    select

        ---------- ids
        id as company_id,
        {{ hubspot_property('hubspot_owner_id') }} as owner_id,

        ---------- text
        {{ hubspot_property('name') }} as company_name,
        {{ hubspot_property('domain') }} as domain,
        {{ hubspot_property('industry') }} as industry,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        {{ hubspot_timestamp(hubspot_property('createdate')) }} as created_at,
        updated_at

    from source

)

select * from renamed
