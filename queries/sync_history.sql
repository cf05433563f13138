-- The newest sync runs with their totals: calls made and rows staged.
select
    run_id,
    started_at,
    finished_at,
    source,
    outcome,
    cast((select sum(cast(value as bigint)) from json_each(calls)) as bigint)
        as calls,
    cast((select sum(cast(value as bigint)) from json_each(row_counts) where key <> 'values_set_to_null') as bigint)
        as rows,
    round(epoch(finished_at) - epoch(started_at), 1) as seconds,
    error
from sync_runs
order by run_id desc
limit $limit;
