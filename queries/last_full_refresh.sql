select max(started_at) from sync_runs
where outcome = 'succeeded' and full_refresh;
