-- Each secondary index on the log table is a page write per row. Reports read the daily
-- aggregates; `/spend/logs` by user, team or end user walks the time index and filters.
DROP INDEX sy_spend_logs_user;
DROP INDEX sy_spend_logs_team;
DROP INDEX sy_spend_logs_end_user;
