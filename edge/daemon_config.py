"""The daemon's own config sections; the run config embeds them as ``[serve]`` and ``[reconnect]``."""
from dataclasses import dataclass, field

from edge.reconnect import BackoffConfig
from edge.serve import ServeConfig


@dataclass
class DaemonConfig:
    serve: ServeConfig = field(default_factory=ServeConfig)
    reconnect: BackoffConfig = field(default_factory=BackoffConfig)
