-- Push to stop boards over MQTT: how each board gets its frames, and in what form.

ALTER TABLE boards
    ADD COLUMN delivery text NOT NULL DEFAULT 'poll' CHECK (delivery IN ('poll', 'mqtt', 'both')),
    ADD COLUMN frame_format text NOT NULL DEFAULT 'json' CHECK (frame_format IN ('json', 'raw'));
