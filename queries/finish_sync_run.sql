update sync_runs
set finished_at = $finished_at, outcome = $outcome, error = $error,
    calls = $calls, row_counts = $row_counts, skipped_records = $skipped
where run_id = $run_id;
