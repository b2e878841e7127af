with

source as (

    select * from {{ source('salesforce', 'record_types') }}

),

renamed as (

    select

        ---------- ids
        id as record_type_id,

        ---------- text
        {{ salesforce_text('Name') }} as record_type_name,
        {{ salesforce_text('DeveloperName') }} as developer_name,
        {{ salesforce_text('SobjectType') }} as sobject_type,

        ---------- booleans
        coalesce({{ salesforce_boolean('IsActive') }}, false) as is_active,
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        updated_at

    from source

)

select * from renamed
