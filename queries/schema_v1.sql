-- Version 1 of the store. One DuckDB file holds one tenant.
-- Tables the sync owns are rebuilt from Defender; tables users write
-- (completions, settings) are never touched by the sync.

create table if not exists schema_version (
    version integer not null,
    applied_at timestamptz not null
);

create table if not exists tenant (
    tenant_id varchar primary key,
    recorded_at timestamptz not null
);

create table if not exists sync_runs (
    run_id integer primary key,
    started_at timestamptz not null,
    finished_at timestamptz,
    source varchar not null,
    full_refresh boolean not null default false,
    outcome varchar not null,            -- running, succeeded, failed, interrupted
    error varchar,
    calls json,                          -- calls per endpoint
    row_counts json,                     -- rows staged per table
    skipped_records integer not null default 0
);

create table if not exists device_groups (
    group_id integer primary key,        -- Defender's rbacGroupId; 0 = Unassigned
    group_name varchar not null,
    last_seen_run integer
);

create table if not exists machines (
    machine_id varchar primary key,
    computer_dns_name varchar,
    os_platform varchar,
    os_version varchar,
    group_id integer,
    health_status varchar,
    onboarding_status varchar,
    exposure_level varchar,
    risk_score varchar,
    device_value varchar,
    merged_into varchar,
    managed_by varchar,
    first_seen timestamptz,
    last_seen timestamptz,
    machine_tags varchar[],
    is_excluded boolean
);

-- Remediation activities as Defender reports them (read-only for users).
create table if not exists activities (
    activity_id varchar primary key,
    title varchar,
    description varchar,
    related_component varchar,
    requester_id varchar,
    requester_email varchar,
    requester_notes varchar,
    status varchar,
    remediation_type varchar,
    category varchar,
    productivity_impact varchar,
    priority varchar,
    completion_method varchar,
    completer_id varchar,
    completer_email varchar,
    scid varchar,
    product_id varchar,
    vendor_id varchar,
    name_id varchar,
    recommended_version varchar,
    recommended_vendor varchar,
    recommended_program varchar,
    created_on timestamptz,
    status_changed_on timestamptz,
    due_on date,                         -- a calendar date in UTC
    target_devices integer,
    fixed_devices integer,
    device_groups varchar[],
    devices_synced_at timestamptz,       -- last successful fetch of its devices
    devices_gone boolean not null default false,
    missing_since timestamptz            -- Defender stopped returning it
);

-- The devices each activity lists as exposed, as of its last fetch.
create table if not exists activity_devices (
    activity_id varchar not null,
    machine_id varchar not null,
    computer_dns_name varchar,
    os_platform varchar,
    group_id integer,
    group_name varchar,
    primary key (activity_id, machine_id)
);

create table if not exists recommendations (
    recommendation_id varchar primary key,
    name varchar,
    product_name varchar,
    vendor varchar,
    recommended_version varchar,
    category varchar,
    sub_category varchar,
    remediation_type varchar,
    status varchar,
    related_component varchar,
    weaknesses integer,
    total_devices integer,
    exposed_devices integer,
    no_user_impact_devices integer,
    exposed_critical_devices integer,
    severity_score double,
    config_score_impact double,
    exposure_impact double,
    public_exploit boolean,
    active_alert boolean,
    associated_threats varchar[],
    tags varchar[]
);

create table if not exists recommendation_devices (
    recommendation_id varchar not null,
    machine_id varchar not null,
    computer_dns_name varchar,
    os_platform varchar,
    group_id integer,
    group_name varchar,
    primary key (recommendation_id, machine_id)
);

-- History: when each device was exposed for each activity. A device fixed and
-- exposed again gets a second interval. end_reason: fixed or no_longer_reported.
create table if not exists exposure_intervals (
    activity_id varchar not null,
    machine_id varchar not null,
    group_id integer,
    exposed_from timestamptz not null,
    exposed_to timestamptz,
    end_reason varchar,
    primary key (activity_id, machine_id, exposed_from)
);

-- History: per activity and device group, at every successful sync.
create table if not exists group_snapshots (
    run_id integer not null,
    taken_at timestamptz not null,
    activity_id varchar not null,
    group_id integer not null,
    exposed_devices integer not null,
    fixed_devices integer not null,
    primary key (run_id, activity_id, group_id)
);

-- History: Defender's own progress figures of every activity at every run.
create table if not exists activity_progress (
    run_id integer not null,
    taken_at timestamptz not null,
    activity_id varchar not null,
    status varchar,
    fixed_devices integer,
    target_devices integer,
    primary key (run_id, activity_id)
);

-- Per device group and day; kept when old activities are purged.
create table if not exists group_daily_totals (
    day date not null,
    group_id integer not null,
    exposed_devices integer not null,
    fixed_devices integer not null,
    active_activities integer not null,
    primary key (day, group_id)
);

-- Written by users: never rewritten by the sync.
create table if not exists completions (
    activity_id varchar primary key,
    completed_by varchar not null,
    completed_at timestamptz not null,
    note varchar
);

-- Activities removed by the retention purge; the sync does not bring them back.
create table if not exists purged_activities (
    activity_id varchar primary key,
    purged_at timestamptz not null
);

create table if not exists settings (
    key varchar primary key,
    value json,
    changed_by varchar,
    changed_at timestamptz
);
