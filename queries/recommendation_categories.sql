-- The categories stored recommendations have, for the page's filter.
select distinct category
from recommendations
where category is not null and category <> ''
order by lower(category), category;
