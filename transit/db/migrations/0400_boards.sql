-- Electronic stop boards (电子站牌): registry, heartbeats, offline periods, operator messages.

CREATE TABLE boards (
    board_id        text PRIMARY KEY CHECK (board_id ~ '^[A-Za-z0-9_.-]{1,64}$'),
    stop_ids        text[] NOT NULL CHECK (cardinality(stop_ids) >= 1),
    route_ids       text[] NOT NULL DEFAULT '{}',  -- empty: every line at the stops
    rows            integer NOT NULL CHECK (rows BETWEEN 1 AND 32),
    cols            integer NOT NULL CHECK (cols BETWEEN 8 AND 256),
    paging          boolean NOT NULL DEFAULT true,
    encoding        text NOT NULL CHECK (encoding IN ('GB2312', 'GBK', 'UTF-8')),
    languages       text NOT NULL CHECK (languages IN ('zh', 'zh+en')),
    message_mode    text NOT NULL DEFAULT 'row' CHECK (message_mode IN ('row', 'page')),
    -- the key is never stored: only HMAC-SHA256(key_salt, key)
    key_salt        bytea NOT NULL,
    key_digest      bytea NOT NULL,
    poll_interval_s double precision NOT NULL CHECK (poll_interval_s > 0),
    location        text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    retired_at      timestamptz,  -- kept for the coverage history; no longer served
    -- heartbeat: the newest poll (or MQTT status)
    last_seen_at    timestamptz,
    last_ip         text,
    firmware        text,
    last_via        text
);

CREATE INDEX boards_active ON boards (board_id) WHERE retired_at IS NULL;

-- A board is offline from the moment it missed `online_intervals` polls (or its MQTT last will
-- arrived) until it is heard again.  end_at NULL: still offline.
CREATE TABLE board_offline_periods (
    period_id   bigserial PRIMARY KEY,
    board_id    text NOT NULL REFERENCES boards (board_id) ON DELETE CASCADE,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz,
    reason      text NOT NULL,
    CHECK (end_at IS NULL OR end_at >= start_at)
);

CREATE UNIQUE INDEX board_offline_open ON board_offline_periods (board_id) WHERE end_at IS NULL;
CREATE INDEX board_offline_span ON board_offline_periods (board_id, start_at);

-- Operator messages: one board, the boards of one line, or every board.
CREATE TABLE board_messages (
    message_id  bigserial PRIMARY KEY,
    scope       text NOT NULL CHECK (scope IN ('board', 'route', 'all')),
    target      text,
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    text_en     text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at),
    CHECK ((scope = 'all') = (target IS NULL))
);

CREATE INDEX board_messages_current ON board_messages (ends_at);
