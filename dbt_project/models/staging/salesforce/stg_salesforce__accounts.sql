with

source as (

    select * from {{ source('salesforce', 'accounts') }}

),

renamed as (

    select

        ---------- ids
        id as account_id,

        ---------- text
        {{ salesforce_text('Name') }} as account_name,

        ---------- booleans
        coalesce(archived, false) as is_archived,

        ---------- timestamps
        updated_at

    from source

)

select * from renamed
