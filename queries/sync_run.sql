select run_id, started_at, finished_at, source, full_refresh, outcome, error,
       calls, row_counts, skipped_records
from sync_runs where run_id = $run_id;
