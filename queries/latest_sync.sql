-- The latest run of each kind: the one that last succeeded and the very last,
-- and how many runs failed in a row since the last success.
select
    (select max(run_id) from sync_runs where outcome = 'succeeded') as succeeded_id,
    (select max(finished_at) from sync_runs where outcome = 'succeeded')
        as succeeded_at,
    (select max(run_id) from sync_runs) as last_id,
    (
        select count(*) from sync_runs
        where outcome = 'failed'
          and run_id > coalesce(
              (select max(run_id) from sync_runs where outcome = 'succeeded'), 0
          )
    ) as failed_in_a_row;
