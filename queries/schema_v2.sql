-- Version 2: remediation requests filed from this dashboard, and an audit log.
--
-- A request is kept in `requests` (what the user filed and later edited) and
-- `request_targets` (the exposed devices it covered when filed); both are
-- written only by users. Each request also has a row in `activities`
-- (source 'dashboard') so every list, card, chart and export shows it beside
-- Defender's own; the sync keeps that row's progress up to date from the
-- recommendation's exposed-device list and never touches the request itself.

alter table activities add column if not exists source varchar default 'defender';
alter table activities add column if not exists recommendation_id varchar;
alter table activities add column if not exists target_scope varchar;
-- The recommendation left Defender's list: its remaining devices count as fixed.
alter table activities add column if not exists recommendation_gone_since timestamptz;

update activities set source = 'defender' where source is null;

create table if not exists requests (
    activity_id varchar primary key,
    form_token varchar not null unique,   -- one request per submitted form
    recommendation_id varchar not null,
    remediation_type varchar not null,
    target_scope varchar not null,        -- AllExposedDevices or NoUserImpact
    group_ids integer[] not null,
    priority varchar not null,
    due_on date,                          -- none for attention required
    notes varchar,
    requested_by varchar not null,
    requested_at timestamptz not null,
    cancelled_by varchar,
    cancelled_at timestamptz
);

create table if not exists request_targets (
    activity_id varchar not null,
    machine_id varchar not null,
    computer_dns_name varchar,
    os_platform varchar,
    group_id integer,
    group_name varchar,
    primary key (activity_id, machine_id)
);

-- Every write a user makes: who, when, what, and the values before and after.
create sequence if not exists audit_log_ids;
create table if not exists audit_log (
    entry_id bigint primary key default nextval('audit_log_ids'),
    logged_at timestamptz not null,
    actor varchar not null,
    action varchar not null,
    object_id varchar,
    before json,
    after json
);
