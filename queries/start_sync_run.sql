insert into sync_runs (run_id, started_at, source, full_refresh, outcome)
select coalesce(max(run_id), 0) + 1, $now, $source, $full, 'running'
from sync_runs
returning run_id;
