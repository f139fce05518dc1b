-- Responses API: each answered response with the conversation that led to it, so
-- previous_response_id and GET /v1/responses/{id} work on every instance.
CREATE TABLE sy_responses (
    id         TEXT   NOT NULL PRIMARY KEY,
    owner      TEXT,
    openai     BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    response   TEXT   NOT NULL,
    items      TEXT   NOT NULL
);
CREATE INDEX sy_responses_created ON sy_responses (created_ms);
