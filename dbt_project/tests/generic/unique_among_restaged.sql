-- unique for an incremental staging table: fails for every id that occurs more than once among
-- the rows the last build (re)staged and the rest of the table. The first build, and any after a
-- full sync, stages every row and so checks them all; a later build checks the records it wrote
-- and that no older version of them stayed, instead of grouping ten million ids no build has
-- touched since the one that checked them.
{% test unique_among_restaged(model, column_name) %}

    select
        {{ column_name }},
        count(*) as n_rows
    from {{ model }}
    where {{ column_name }} in (
        select restaged.{{ column_name }}
        from {{ model }} as restaged
        where restaged.staged_at = (select max(last_build.staged_at) from {{ model }} as last_build)
    )
    group by {{ column_name }}
    having count(*) > 1

{% endtest %}
