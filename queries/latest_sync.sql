-- The latest run of each kind: the one that last succeeded and the very last.
select
    (select max(run_id) from sync_runs where outcome = 'succeeded') as succeeded_id,
    (select max(finished_at) from sync_runs where outcome = 'succeeded')
        as succeeded_at,
    (select max(run_id) from sync_runs) as last_id;
