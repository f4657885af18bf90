-- The task's trace context (W3C traceparent and tracestate, as JSON) when traces are
-- exported: the callbacks, polls, media copies and deliveries that come later without any
-- context join the task's trace through it, on whichever replica. NULL: not traced.
ALTER TABLE tasks ADD COLUMN trace_context TEXT;
