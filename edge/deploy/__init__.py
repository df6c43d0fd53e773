"""Files `edge service install` installs: the systemd unit and its EnvironmentFile (also in systemd/)."""
