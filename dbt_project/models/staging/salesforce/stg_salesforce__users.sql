with

source as (

    select * from {{ source('salesforce', 'users') }}

),

renamed as (

    select

        ---------- ids
        id as user_id,
        {{ salesforce_text('UserRoleId') }} as user_role_id,

        ---------- text
        -- Integration and automated users may have no name: fall back to the id, never the email.
        coalesce({{ salesforce_text('Name') }}, 'Owner ' || id) as user_name,
        {{ salesforce_text('Email') }} as email,
        {{ salesforce_text('UserType') }} as user_type,

        ---------- booleans
        coalesce({{ salesforce_boolean('IsActive') }}, false) as is_active,
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        {{ salesforce_timestamp('CreatedDate') }} as created_at,
        updated_at

    from source

)

select * from renamed
