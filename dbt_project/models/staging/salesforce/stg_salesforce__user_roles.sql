with

source as (

    select * from {{ source('salesforce', 'user_roles') }}

),

renamed as (

    select

        ---------- ids
        id as user_role_id,
        {{ salesforce_text('ParentRoleId') }} as parent_role_id,

        ---------- text
        {{ salesforce_text('Name') }} as role_name,
        {{ salesforce_text('DeveloperName') }} as developer_name,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        updated_at

    from source

)

select * from renamed
