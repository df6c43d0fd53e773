"""The run loop of ``edge run``: its config, the per-frame result record, tracking, drawing, sinks, the log."""
