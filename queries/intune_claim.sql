-- Take a queued call for sending. A claim left by a delivery that never
-- finished (older than $stale_before) can be taken again, but its create is
-- then in doubt: it may have reached Intune.
update intune_outbox
set claimed_at = $now, last_attempt_at = $now, attempts = attempts + 1,
    in_doubt = in_doubt or claimed_at is not null
where activity_id = $activity_id and operation = $operation
  and (claimed_at is null or claimed_at < $stale_before)
returning in_doubt;
