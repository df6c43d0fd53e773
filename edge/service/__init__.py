"""The service shell around the run loop: signals and systemd (daemon, sdnotify), the live view (serve,
page), jtop telemetry and log rotation. Each part is off unless configured."""
