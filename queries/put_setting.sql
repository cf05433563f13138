insert or replace into settings values ($key, $value, $changed_by, $changed_at);
