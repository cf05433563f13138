-- Runs left "running" by a process that died; only called under the sync lock.
update sync_runs set outcome = 'interrupted',
    error = 'The sync process stopped before finishing (killed or crashed).'
where outcome = 'running';
