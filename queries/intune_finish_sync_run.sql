-- The Graph step of a sync run: its own outcome, error and calls.
update sync_runs
set graph_outcome = $outcome, graph_error = $error, graph_calls = $calls
where run_id = $run_id;
