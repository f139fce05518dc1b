-- Keys, users, teams, end users and tags: one row each, typed columns for what is filtered or
-- summed, the rest of the record as JSON in `data`.
CREATE TABLE sy_entities (
    kind        TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    alias       TEXT,
    user_id     TEXT,
    team_id     TEXT,
    spend_nano  BIGINT  NOT NULL DEFAULT 0,
    data        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX sy_entities_alias ON sy_entities (kind, alias);
CREATE INDEX sy_entities_user ON sy_entities (kind, user_id);
CREATE INDEX sy_entities_team ON sy_entities (kind, team_id);

-- Every change to an entity, so other instances reload it from their caches.
CREATE TABLE sy_changes (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    kind  TEXT   NOT NULL,
    id    TEXT   NOT NULL,
    at    BIGINT NOT NULL
);
CREATE INDEX sy_changes_at ON sy_changes (at);

-- One row per request, success or failure.
CREATE TABLE sy_spend_logs (
    request_id          TEXT    PRIMARY KEY,
    call_type           TEXT    NOT NULL,
    api_key             TEXT,
    key_alias           TEXT,
    user_id             TEXT,
    team_id             TEXT,
    end_user            TEXT,
    model_group         TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    model_id            TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    api_base            TEXT    NOT NULL,
    prompt_tokens       BIGINT  NOT NULL,
    completion_tokens   BIGINT  NOT NULL,
    total_tokens        BIGINT  NOT NULL,
    cache_read_tokens   BIGINT  NOT NULL,
    cache_write_tokens  BIGINT  NOT NULL,
    reasoning_tokens    BIGINT  NOT NULL,
    spend_nano          BIGINT  NOT NULL,
    status              TEXT    NOT NULL,
    status_code         BIGINT  NOT NULL,
    error_reason        TEXT,
    stream              BIGINT  NOT NULL,
    cache_hit           BIGINT  NOT NULL,
    attempted_retries   BIGINT  NOT NULL,
    attempted_fallbacks BIGINT  NOT NULL,
    start_time          BIGINT  NOT NULL,
    end_time            BIGINT  NOT NULL,
    completion_start_time BIGINT,
    request_duration_ms BIGINT  NOT NULL,
    request_tags        TEXT    NOT NULL,
    metadata            TEXT    NOT NULL
);
CREATE INDEX sy_spend_logs_time ON sy_spend_logs (start_time);
CREATE INDEX sy_spend_logs_key ON sy_spend_logs (api_key, start_time);
CREATE INDEX sy_spend_logs_user ON sy_spend_logs (user_id, start_time);
CREATE INDEX sy_spend_logs_team ON sy_spend_logs (team_id, start_time);
CREATE INDEX sy_spend_logs_end_user ON sy_spend_logs (end_user, start_time);

-- Daily totals per entity, model group and provider, kept with every batch; reports read these.
-- kind is key, user, team, end_user, tag or global (id '').
CREATE TABLE sy_daily_spend (
    day                 TEXT   NOT NULL,
    kind                TEXT   NOT NULL,
    id                  TEXT   NOT NULL,
    model_group         TEXT   NOT NULL,
    provider            TEXT   NOT NULL,
    requests            BIGINT NOT NULL,
    successes           BIGINT NOT NULL,
    failures            BIGINT NOT NULL,
    prompt_tokens       BIGINT NOT NULL,
    completion_tokens   BIGINT NOT NULL,
    cache_read_tokens   BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    spend_nano          BIGINT NOT NULL,
    PRIMARY KEY (day, kind, id, model_group, provider)
);
CREATE INDEX sy_daily_spend_kind ON sy_daily_spend (kind, day);
