-- When every device list was last fetched, and the last run that merged.
select
    max(started_at) filter (where outcome = 'succeeded' and full_refresh),
    max(run_id) filter (where outcome = 'succeeded')
from sync_runs;
