-- Spend per budget period (and, with period_start 0, lifetime spend of budget subjects that
-- have no entity row: a key's model, the whole gateway), so budgets survive a restart.
CREATE TABLE sy_budget_spend (
    scope        TEXT   NOT NULL,
    id           TEXT   NOT NULL,
    period_start BIGINT NOT NULL,
    spend_nano   BIGINT NOT NULL,
    PRIMARY KEY (scope, id, period_start)
);
