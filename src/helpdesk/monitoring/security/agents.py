"""User-agent classes, attack-tool signatures and probe paths.

A plain ``curl`` or ``python-requests`` is how our API clients talk: it is recorded as a class
(``cli``, ``library``), never flagged. Only known attack tools (sqlmap, nikto, nmap…) and
requests for paths this product never serves (/.env, /wp-admin, /.git/…) are malicious.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

logger = logging.getLogger(__name__)

# Tools whose only use against a production site is attacking it.
ATTACK_TOOLS = (
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "wpscan",
    "dirbuster",
    "gobuster",
    "dirb",
    "nuclei",
    "acunetix",
    "netsparker",
    "havij",
    "w3af",
    "openvas",
    "hydra",
    "ffuf",
    "whatweb",
    "zmeu",
    "fimap",
    "commix",
    "jorgee",
)
_ATTACK = re.compile(r"\b(" + "|".join(map(re.escape, ATTACK_TOOLS)) + r")\b", re.IGNORECASE)
_CLI = re.compile(r"^(curl|wget|httpie|xh|powershell)\b", re.IGNORECASE)
_LIBRARY = re.compile(
    r"^(python-requests|python-httpx|python-urllib|aiohttp|go-http-client|okhttp|axios|"
    r"node-fetch|undici|java|apache-httpclient|libwww-perl|ruby|faraday|guzzle|dart|rest-client)",
    re.IGNORECASE,
)
_BOT = re.compile(r"bot\b|crawler|spider|slurp|prometheus|kube-probe|elb-healthchecker", re.I)
_BROWSER = re.compile(r"^Mozilla/5\.0 ", re.IGNORECASE)

# Paths this product never serves; asking for them is reconnaissance.
PROBE_PATHS = (
    "/.env",
    "/.git/",
    "/.git",
    "/.svn/",
    "/.hg/",
    "/.ds_store",
    "/.aws/",
    "/.ssh/",
    "/wp-admin",
    "/wp-login.php",
    "/wp-content/",
    "/wp-includes/",
    "/xmlrpc.php",
    "/phpmyadmin",
    "/pma/",
    "/myadmin",
    "/phpinfo.php",
    "/server-status",
    "/cgi-bin/",
    "/vendor/phpunit/",
    "/actuator/",
    "/console/",
    "/boaform/",
    "/config.json",
    "/web.config",
    "/etc/passwd",
)
_PROBE_SUFFIXES = (".php", ".asp", ".aspx", ".jsp", ".cgi")


def attack_tool(user_agent: str) -> str | None:
    """Return the attack tool named by a user agent (lower case), or None."""
    if not user_agent:
        return None
    match = _ATTACK.search(user_agent)
    return match.group(1).lower() if match else None


@lru_cache(maxsize=1024)
def classify(user_agent: str) -> str:
    """Return the class of a user agent: scanner, cli, library, bot, browser, empty or other."""
    if not user_agent:
        return "empty"
    if attack_tool(user_agent):
        return "scanner"
    if _CLI.match(user_agent):
        return "cli"
    if _LIBRARY.match(user_agent):
        return "library"
    if _BOT.search(user_agent):
        return "bot"
    if _BROWSER.match(user_agent):
        return "browser"
    return "other"


def probe_path(path: str) -> str | None:
    """Return the probe signature ``path`` matches, or None (case-insensitive)."""
    lowered = path.lower()
    for prefix in PROBE_PATHS:
        if lowered == prefix.rstrip("/") or lowered.startswith(prefix):
            return prefix
    if "../" in lowered or "%2e%2e" in lowered:
        return "path-traversal"
    if lowered.endswith(_PROBE_SUFFIXES):
        return "script-extension"
    return None
