-- The first chat message posted for a task to a downstream whose platform can edit
-- messages (Telegram): later states of the task edit it instead of posting new ones.
CREATE TABLE chat_messages (
    task_id TEXT NOT NULL,
    downstream TEXT NOT NULL,
    message_id TEXT NOT NULL,
    media INTEGER NOT NULL,
    PRIMARY KEY (task_id, downstream)
);
