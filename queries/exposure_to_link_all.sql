-- Every activity with exposure history, for `link_exposure`.
create or replace temp table exposure_to_link as
select distinct activity_id from exposure_intervals;
