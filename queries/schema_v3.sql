-- Version 3: Intune security tasks created through Microsoft Graph.
--
-- `intune_tasks` holds one task per remediation activity filed here: its Graph
-- id once Intune has answered the create, and IT's answer as last read back.
-- `intune_outbox` holds the Graph calls still to send, one per activity and
-- operation (create, patch, status); a row leaves only in the transaction
-- that records the call's success, so nothing is lost when Graph is down.
-- Both are written by users' requests and by delivery, never by the merge.

create table if not exists intune_tasks (
    activity_id varchar primary key,
    task_id varchar,                 -- Graph id; null until the create is answered
    kind varchar not null,           -- appVulnerabilityTask, securityConfigurationTask
    status varchar,                  -- pending, active, completed, rejected (null
                                     -- until created), or deleted (gone in Intune)
    assigned_to varchar,
    devices_sent integer,            -- managedDeviceCount sent (at most 10,000)
    last_error varchar,
    attempts integer not null default 0,   -- create calls tried
    created_at timestamptz not null,
    updated_at timestamptz not null,
    last_read_at timestamptz
);

create table if not exists intune_outbox (
    activity_id varchar not null,
    operation varchar not null,      -- create, patch, status
    payload json not null,
    queued_at timestamptz not null,
    attempts integer not null default 0,
    last_error varchar,
    last_attempt_at timestamptz,
    not_before timestamptz,          -- Graph asked to wait (429 Retry-After)
    claimed_at timestamptz,          -- a delivery is sending it now
    in_doubt boolean not null default false,  -- a create may have reached Intune
    primary key (activity_id, operation)
);

alter table sync_runs add column if not exists graph_outcome varchar;
alter table sync_runs add column if not exists graph_error varchar;
alter table sync_runs add column if not exists graph_calls json;
