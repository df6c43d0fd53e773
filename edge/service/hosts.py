"""Which ``Host`` headers the live view answers (DNS rebinding: a page of another site, its name resolved to
127.0.0.1, reaching the tokenless localhost view): IP literals, localhost, the bound name, configured names.

    host_allowed("evil.example:8080", {"localhost", "jetson.local"})   # False → 421
"""
import ipaddress
from typing import List, Optional

LOCAL_NAMES = ("localhost",)  # IP literals (127.0.0.1, [::1], the bound address …) are always accepted


def parse_hosts(text: str) -> List[str]:
    """``--serve-hosts a,b`` → ["a", "b"]."""
    return [h.strip() for h in text.split(",") if h.strip()]


def host_name(header: str) -> str:
    """The host of a ``Host`` header or a configured name, lower case, without port, brackets or final dot."""
    host = header.strip().lower()
    if host.startswith("[") and "]" in host:
        host = host[1:host.index("]")]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def host_allowed(header: Optional[str], names) -> bool:
    """A request's ``Host`` names this server: an IP literal, or one of ``names`` (normalised by host_name).

    A missing header passes: browsers always send one, and only a browser can be rebound.
    """
    if not header:
        return True
    host = host_name(header)
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host in names
