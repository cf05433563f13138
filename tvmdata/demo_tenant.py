"""The demo tenant: what the Defender API would answer at any moment of its history.

Demo mode serves this tenant from the local API emulator and builds the dashboard's
history by replaying real syncs at past dates, so the tenant is a model over time
rather than a snapshot. Each exposure of a device to a security recommendation is
an interval (exposed from, fixed at, and for a few devices exposed again later); a
remediation activity targets the devices exposed in its device groups when it is
created, and `DemoTenant.at` reads the model at one moment into the JSON shapes
Defender returns.

The model lives in compact arrays of whole seconds relative to `now`; plain dicts
are only built by `at`. Everything is drawn from one `random.Random(seed)`, so the
same arguments always give the same tenant.

Shape of the dynamics:

- device groups fix at their own speed: servers slowly, one workstation group
  fast, unassigned devices slowest and with the most stragglers;
- one workstation group stalls: no device in it is fixed for anything during the
  last 16 to 24 days;
- a few fixed devices are exposed again days later (regressions) and stay in
  their activity's exposed devices;
- a few roaming devices stop reporting (inactive after 7 days, no longer listed
  as exposed after 30) and are never counted as fixed; a couple change group once.
"""

from __future__ import annotations

import logging
import math
import random
import time
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

logger = logging.getLogger(__name__)

TENANT_ID = "00000000-0000-4000-8000-00000000de70"
CLIENT_ID = "00000000-0000-4000-8000-0000000c11e7"
CLIENT_SECRET = "demo-tenant-client-secret"

NEVER = 2**31 - 1
HOUR = 3_600
DAY = 86_400
HISTORY_DAYS = 120
DAILY_DAYS = 14
SILENT_LIMIT = 30 * DAY
INACTIVE_AFTER = 7 * DAY
RETENTION = 180 * DAY
UNASSIGNED = "UnassignedGroup"
DNS_SUFFIX = "corp.contoso.example"
MAIL_DOMAIN = "contoso.example"

_HISTORY_START = -HISTORY_DAYS * DAY
_REGRESSION_RATE = 0.004
_FORCED_REGRESSIONS = 4
_TYPES = ("Update", "Upgrade", "Uninstall", "ConfigurationChange", "AttentionRequired")
_TYPE_WEIGHTS = (50, 7, 6, 27, 10)
_PRIORITIES = ("High", "Medium", "Low")
_PRIORITY_WEIGHTS = (30, 45, 25)
_DUE_DAYS = {"High": (7, 21), "Medium": (14, 45), "Low": (30, 75)}

# --------------------------------------------------------------------------------
# Catalogues

W11, W10, S19, S22, MAC, LNX = range(6)
WIN = (W11, W10)

# platform, (version, build) choices, host-name kind
_OS = (
    ("Windows11", (("23H2", 22631), ("24H2", 26100)), "lt"),
    ("Windows10", (("22H2", 19045), ("21H2", 19044)), "lt"),
    ("WindowsServer2019", (("1809", 17763),), "srv"),
    ("WindowsServer2022", (("21H2", 20348),), "srv"),
    ("macOS", (("14.7", None), ("15.2", None)), "mac"),
    ("Linux", (("22.04", None), ("24.04", None)), "lnx"),
)
# Platform codes of the catalogues below: W workstation Windows, S server Windows,
# M macOS, L Linux; 1, 0, 9 and 2 for one Windows release only.
_PLATFORM_CODES = {
    "W": WIN, "S": (S19, S22), "M": (MAC,), "L": (LNX,),
    "1": (W11,), "0": (W10,), "9": (S19,), "2": (S22,),
}  # fmt: skip

# id, name, host prefix, weight, roaming, median days to fix, stragglers.
# Roaming groups are laptops that travel: they go quiet and change group.
_GROUPS = (
    (101, "Servers - Datacenter", "dc", 9, False, 30, 0.28),
    (102, "Servers - DMZ", "dmz", 3, False, 18, 0.16),
    (103, "Servers - Azure", "az", 4, False, 14, 0.14),
    (104, "Workstations - Finance", "fin", 9, False, 9, 0.08),
    (105, "Workstations - HR", "hr", 5, False, 11, 0.09),
    (106, "Workstations - Engineering", "eng", 14, False, 7, 0.07),
    (107, "Workstations - Legal", "lgl", 4, False, 12, 0.1),
    (108, "Workstations - Sales", "sls", 12, True, 10, 0.1),
    (109, "Workstations - London", "lon", 15, True, 8, 0.08),
    (110, "Workstations - New York", "nyc", 16, True, 9, 0.09),
    (111, "Workstations - Singapore", "sgp", 7, True, 13, 0.11),
    (0, None, "pc", 6, True, 28, 0.35),
)
_ALWAYS_GROUPS = (101, 102, 104, 105, 109, 110, 0)
_OS_MIX = {
    "dc": ((S19, 45), (S22, 40), (LNX, 15)),
    "dmz": ((S22, 55), (LNX, 45)),
    "az": ((S22, 60), (LNX, 40)),
    "fin": ((W11, 70), (W10, 30)),
    "hr": ((W11, 55), (W10, 45)),
    "eng": ((W11, 45), (MAC, 35), (LNX, 20)),
    "lgl": ((W11, 60), (W10, 30), (MAC, 10)),
    "sls": ((W11, 60), (W10, 25), (MAC, 15)),
    "lon": ((W11, 55), (W10, 35), (MAC, 10)),
    "nyc": ((W11, 60), (W10, 25), (MAC, 15)),
    "sgp": ((W11, 50), (W10, 40), (MAC, 10)),
    "pc": ((W11, 30), (W10, 35), (S19, 10), (MAC, 10), (LNX, 15)),
}

# Software: vendor, product, component, platforms, prevalence, kind. Kinds: "a"
# updates itself, "p" monthly OS patch, "u" update, "g" upgrade (end of support),
# "x" uninstall (end of life, no successor).
_SOFTWARE = (
    ("google", "chrome", "Google Chrome", "WM", 0.55, "a"),
    ("microsoft", "edge_chromium", "Microsoft Edge", "WS", 0.5, "a"),
    ("mozilla", "firefox", "Mozilla Firefox", "WML", 0.14, "a"),
    ("mozilla", "firefox_esr", "Mozilla Firefox ESR", "W", 0.05, "u"),
    ("brave", "brave_browser", "Brave Browser", "WM", 0.03, "a"),
    ("opera", "opera_browser", "Opera", "W", 0.02, "a"),
    ("oracle", "jre", "Oracle Java SE Runtime Environment", "WS", 0.14, "u"),
    ("oracle", "jdk", "Oracle JDK", "SL", 0.08, "u"),
    ("eclipse", "temurin", "Eclipse Temurin", "WL", 0.06, "u"),
    ("microsoft", ".net_framework", ".NET Framework", "WS", 0.45, "u"),
    ("microsoft", ".net", ".NET Runtime", "WS", 0.25, "u"),
    ("microsoft", "asp.net_core", "ASP.NET Core Runtime", "S", 0.2, "u"),
    ("nodejs", "node.js", "Node.js", "WML", 0.06, "u"),
    ("python", "python", "Python", "WML", 0.1, "u"),
    ("microsoft", "office", "Microsoft 365 Apps", "WM", 0.65, "a"),
    ("adobe", "acrobat_reader_dc", "Adobe Acrobat Reader DC", "WM", 0.45, "u"),
    ("adobe", "acrobat_dc", "Adobe Acrobat DC", "WM", 0.08, "u"),
    ("foxit", "pdf_reader", "Foxit PDF Reader", "W", 0.06, "u"),
    ("microsoft", "onedrive", "Microsoft OneDrive", "WM", 0.6, "a"),
    ("libreoffice", "libreoffice", "LibreOffice", "WL", 0.04, "u"),
    ("cisco", "anyconnect", "Cisco AnyConnect Secure Mobility Client", "WM", 0.3, "u"),
    ("fortinet", "forticlient", "FortiClient VPN", "WM", 0.15, "u"),
    ("paloaltonetworks", "globalprotect", "GlobalProtect", "WM", 0.2, "u"),
    ("openvpn", "openvpn_connect", "OpenVPN Connect", "WM", 0.05, "u"),
    ("wireguard", "wireguard", "WireGuard", "WL", 0.02, "u"),
    ("zoom", "zoom", "Zoom Workplace", "WM", 0.4, "a"),
    ("microsoft", "teams", "Microsoft Teams", "WM", 0.6, "a"),
    ("slack", "slack", "Slack", "WM", 0.2, "a"),
    ("cisco", "webex_meetings", "Webex", "WM", 0.12, "a"),
    ("citrix", "workspace", "Citrix Workspace app", "WM", 0.15, "u"),
    ("vmware", "horizon_client", "VMware Horizon Client", "W", 0.08, "u"),
    ("7-zip", "7-zip", "7-Zip", "WS", 0.3, "u"),
    ("rarlab", "winrar", "WinRAR", "W", 0.06, "u"),
    ("notepad-plus-plus", "notepad++", "Notepad++", "WS", 0.12, "u"),
    ("simon_tatham", "putty", "PuTTY", "WS", 0.1, "u"),
    ("winscp", "winscp", "WinSCP", "WS", 0.06, "u"),
    ("filezilla-project", "filezilla_client", "FileZilla Client", "W", 0.04, "u"),
    ("videolan", "vlc_media_player", "VLC media player", "WM", 0.15, "u"),
    ("keepass", "keepass", "KeePass", "W", 0.04, "u"),
    ("wireshark", "wireshark", "Wireshark", "WML", 0.03, "u"),
    ("greenshot", "greenshot", "Greenshot", "W", 0.03, "u"),
    ("realvnc", "vnc_viewer", "RealVNC Viewer", "W", 0.03, "u"),
    ("teamviewer", "teamviewer", "TeamViewer", "WM", 0.06, "a"),
    ("anydesk", "anydesk", "AnyDesk", "W", 0.03, "u"),
    ("git", "git", "Git", "WML", 0.1, "u"),
    ("microsoft", "visual_studio_code", "Visual Studio Code", "WML", 0.15, "a"),
    ("microsoft", "visual_studio_2022", "Visual Studio 2022", "W", 0.05, "u"),
    ("docker", "docker_desktop", "Docker Desktop", "WM", 0.04, "u"),
    ("postman", "postman", "Postman", "WM", 0.05, "a"),
    ("jetbrains", "intellij_idea", "IntelliJ IDEA", "WML", 0.04, "u"),
    ("microsoft", "powershell", "PowerShell 7", "WS", 0.12, "u"),
    ("openssl", "openssl", "OpenSSL", "WSL", 0.25, "u"),
    ("apache", "log4j", "Apache Log4j", "SL", 0.04, "u"),
    ("apache", "tomcat", "Apache Tomcat", "SL", 0.05, "u"),
    ("apache", "http_server", "Apache HTTP Server", "L", 0.06, "u"),
    ("f5", "nginx", "nginx", "L", 0.08, "u"),
    ("openbsd", "openssh", "OpenSSH", "SL", 0.3, "u"),
    ("sudo_project", "sudo", "sudo", "L", 0.35, "u"),
    ("linux", "linux_kernel", "Linux kernel", "L", 0.5, "u"),
    ("gnu", "glibc", "GNU C Library", "L", 0.25, "u"),
    ("haxx", "curl", "curl", "WSML", 0.2, "u"),
    ("microsoft", "sql_server_2019", "Microsoft SQL Server 2019", "S", 0.1, "u"),
    ("vmware", "tools", "VMware Tools", "S", 0.35, "u"),
    ("veeam", "backup_and_replication", "Veeam Backup & Replication", "S", 0.03, "u"),
    ("microsoft", "windows_11", "Windows 11", "1", 0.75, "p"),
    ("microsoft", "windows_10", "Windows 10", "0", 0.75, "p"),
    ("microsoft", "windows_server_2019", "Windows Server 2019", "9", 0.7, "p"),
    ("microsoft", "windows_server_2022", "Windows Server 2022", "2", 0.7, "p"),
    ("apple", "macos", "macOS", "M", 0.55, "u"),
    ("dell", "command_update", "Dell Command | Update", "W", 0.3, "u"),
    ("hp", "support_assistant", "HP Support Assistant", "W", 0.1, "u"),
    ("lenovo", "vantage", "Lenovo Vantage", "W", 0.1, "u"),
    ("intel", "graphics_driver", "Intel Graphics Driver", "W", 0.2, "u"),
    ("nvidia", "gpu_display_driver", "NVIDIA GPU Display Driver", "W", 0.05, "u"),
    ("apple", "itunes", "iTunes", "W", 0.02, "u"),
    ("microsoft", "visual_c++_2010", "Visual C++ 2010 Redistributable", "WS", 0.2, "g"),
    ("microsoft", "sql_server_2014", "Microsoft SQL Server 2014", "S", 0.04, "g"),
    ("microsoft", "exchange_server_2016", "Exchange Server 2016", "S", 0.02, "g"),
    ("microsoft", "office_2016", "Microsoft Office 2016", "W", 0.06, "g"),
    ("oracle", "mysql_5.7", "MySQL 5.7", "SL", 0.05, "g"),
    ("php", "php_7.4", "PHP 7.4", "L", 0.06, "g"),
    ("python", "python_2.7", "Python 2.7", "WL", 0.04, "g"),
    ("nodejs", "node.js_16", "Node.js 16", "WL", 0.04, "g"),
    ("adobe", "flash_player", "Adobe Flash Player", "W", 0.02, "x"),
    ("microsoft", "silverlight", "Microsoft Silverlight", "W", 0.03, "x"),
    ("apple", "quicktime", "QuickTime", "W", 0.01, "x"),
    ("adobe", "shockwave_player", "Adobe Shockwave Player", "W", 0.01, "x"),
)
# what an upgrade moves to: a version, or another product
_UPGRADE_TO = {
    "visual_c++_2010": "Visual C++ 2015-2022 Redistributable",
    "sql_server_2014": "2022",
    "exchange_server_2016": "Exchange Server Subscription Edition",
    "office_2016": "Microsoft 365 Apps",
    "mysql_5.7": "8.4",
    "php_7.4": "8.3",
    "python_2.7": "3.12",
    "node.js_16": "22",
}
_CORE_SOFTWARE = {
    "chrome", "edge_chromium", "office", "acrobat_reader_dc", "windows_11",
    "windows_10", "windows_server_2019", "windows_server_2022", "openssl", "log4j",
    "7-zip", "zoom", "teams", "visual_c++_2010", "python_2.7", "silverlight",
    "flash_player", "jre", "git", "notepad++",
}  # fmt: skip

# Security configuration: scid, name, sub-category, platforms, prevalence
_CONFIGURATION = (
    (2010, "Turn on Microsoft Defender Antivirus", "Antivirus", "WS", 0.02),
    (2011, "Update Microsoft Defender Antivirus definitions", "Antivirus", "WS", 0.12),
    (2012, "Turn on real-time protection", "Antivirus", "WS", 0.03),
    (2013, "Turn on cloud-delivered protection", "Antivirus", "WS", 0.08),
    (2014, "Turn on behavior monitoring", "Antivirus", "WS", 0.05),
    (
        2016,
        "Turn on Microsoft Defender Antivirus PUA protection",
        "Antivirus",
        "WS",
        0.45,
    ),
    (2003, "Turn on Tamper Protection", "Antivirus", "WS", 0.25),
    (2017, "Scan all downloaded files and attachments", "Antivirus", "WS", 0.07),
    (2090, "Turn on network protection", "Exploit Guard", "W", 0.35),
    (2091, "Turn on controlled folder access", "Exploit Guard", "W", 0.4),
    (2500, "Block Office applications from creating child processes", "ASR", "W", 0.45),
    (2501, "Block credential stealing from LSASS", "ASR", "WS", 0.35),
    (2502, "Block executable content from email client and webmail", "ASR", "W", 0.3),
    (2503, "Block JavaScript or VBScript from launching executables", "ASR", "W", 0.3),
    (2504, "Block persistence through WMI event subscription", "ASR", "WS", 0.4),
    (2505, "Block abuse of exploited vulnerable signed drivers", "ASR", "WS", 0.35),
    (2030, "Enable BitLocker", "BitLocker", "W", 0.15),
    (2031, "Require additional authentication at startup", "BitLocker", "W", 0.2),
    (2070, "Turn on Microsoft Defender Firewall (domain)", "Firewall", "WS", 0.06),
    (2071, "Turn on Microsoft Defender Firewall (private)", "Firewall", "WS", 0.08),
    (2072, "Turn on Microsoft Defender Firewall (public)", "Firewall", "WS", 0.1),
    (90, "Disable SMBv1", "SMB", "WS", 0.2),
    (91, "Disable SMBv1 client driver", "SMB", "WS", 0.22),
    (92, "Disable multicast name resolution (LLMNR)", "Name resolution", "WS", 0.55),
    (93, "Disable NetBIOS over TCP/IP", "Name resolution", "WS", 0.5),
    (
        94,
        "Send NTLMv2 responses only, refuse LM and NTLM",
        "Authentication",
        "WS",
        0.35,
    ),
    (95, "Disable Basic authentication for the WinRM client", "Remoting", "WS", 0.25),
    (96, "Disable IP source routing", "TCP/IP", "WS", 0.3),
    (40, "Enable Credential Guard", "Credential protection", "W", 0.45),
    (41, "Enable LSA protection", "Credential protection", "WS", 0.4),
    (42, "Disable PowerShell 2.0", "Windows features", "WS", 0.5),
    (43, "Disable AutoRun for all drives", "Removable media", "W", 0.15),
    (44, "Disable Solicited Remote Assistance", "Remote assistance", "W", 0.3),
    (45, "Turn on User Account Control", "UAC", "W", 0.02),
    (10, "Set minimum password length to 14 or more", "Password policy", "WS", 0.35),
    (11, "Set account lockout threshold to 1-10 attempts", "Lockout policy", "WS", 0.3),
    (12, "Disable the built-in Administrator account", "Local accounts", "WS", 0.25),
    (
        13,
        "Do not store passwords with reversible encryption",
        "Password policy",
        "WS",
        0.03,
    ),
    (14, "Lock the screen after 15 minutes of inactivity", "Sign-in", "W", 0.2),
    (5001, "Turn on FileVault", "Encryption", "M", 0.12),
    (5002, "Turn on the macOS firewall", "Firewall", "M", 0.3),
    (5003, "Turn on Gatekeeper", "Application control", "M", 0.05),
    (6001, "Disable SSH root login", "SSH", "L", 0.3),
    (6002, "Disable SSH password authentication", "SSH", "L", 0.35),
)
_CORE_CONFIGURATION = {2011, 2016, 2003, 2500, 2030, 90, 92, 41, 10, 6001}
_CATEGORY = {
    "Firewall": "Network", "SMB": "Network", "Name resolution": "Network",
    "Authentication": "Network", "Remoting": "Network", "TCP/IP": "Network",
    "Windows features": "OS", "Removable media": "OS", "Remote assistance": "OS",
    "UAC": "OS", "Password policy": "Accounts", "Lockout policy": "Accounts",
    "Local accounts": "Accounts", "Sign-in": "Accounts",
}  # fmt: skip
_SUB_CATEGORY = {"ASR": "Attack Surface Reduction"}

# background fixes by kind: share fixed without any activity, median days
_BACKGROUND = {"a": (0.8, 5), "p": (0.5, 12), "u": (0.08, 45), "c": (0.04, 60)}
# share of a recommendation's exposures that predate the history, by kind
_BASELINE = {"a": 0.3, "p": 0.35, "u": 0.75, "g": 0.9, "x": 0.95, "c": 0.85}

_REQUESTERS = (
    "Dana Whitfield", "Priya Raman", "Marcus Oyelaran", "Sofia Lindqvist",
    "Tomas Herrera",
)  # fmt: skip
_COMPLETERS = (
    "Jamie Chen", "Oliver Grant", "Fatima Haddad", "Noah Becker", "Grace Kim",
    "Arjun Mehta",
)  # fmt: skip
_NOTES = (
    "Patch during the next maintenance window.",
    "Actively exploited in the wild; internet-facing hosts first, please.",
    "Needed for the quarterly ISO 27001 audit.",
    "Coordinate reboots with the application owners.",
    "Push through Intune, pilot ring first.",
    "Vendor advisory published this week.",
    "Low risk, but clean up before the end of the quarter.",
    "",
    "Raised in the weekly vulnerability review.",
    "Servers need a change request before patching.",
    "",
)
_MACHINE_TAGS = ((), (), (), ("VIP",), ("Laptop",), ("Kiosk",))
_SERVER_TAGS = (("Production",), ("Production",), ("Test",), ("Tier 0",))
_RISK = ("None", "Informational", "Low", "Medium", "High")
_VALUE = ("Low", "Normal", "High")

# --------------------------------------------------------------------------------
# The model


@dataclass(slots=True)
class _Group:
    gid: int
    name: str | None
    kind: str
    prefix: str
    weight: float
    os_mix: tuple
    roaming: bool
    median_days: float
    stragglers: float

    @property
    def label(self) -> str:
        return self.name or UNASSIGNED


@dataclass(slots=True)
class _Rec:
    rid: str
    name: str
    kind: str
    platforms: tuple
    prevalence: float
    remediation: str
    component: str
    vendor: str = ""
    product: str = ""
    scid: int | None = None
    category: str = "Application"
    sub_category: str = ""
    recommended: str | None = None
    weaknesses: int = 0
    severity: float = 0.0
    public_exploit: bool = False
    active_alert: bool = False
    threats: list = field(default_factory=list)
    config_impact: float = 0.0
    tags: list = field(default_factory=list)
    status: str = "Active"
    # exposures, ordered by (first device group, exposed from)
    dev: array = field(default_factory=lambda: array("i"))
    s1: array = field(default_factory=lambda: array("i"))
    f1: array = field(default_factory=lambda: array("i"))
    s2: array = field(default_factory=lambda: array("i"))
    f2: array = field(default_factory=lambda: array("i"))
    drawn: bytearray = field(default_factory=bytearray)
    spans: dict = field(default_factory=dict)
    moved_in: dict = field(default_factory=dict)


@dataclass(slots=True)
class _Task:
    tid: str
    created: int
    kind: str
    priority: str
    plan: str
    requester: int
    completer: int
    notes: str
    due_days: int | None
    finish_at: int = NEVER
    pinned: bool = False
    with_stalled: bool = False
    watch: int = -1
    keep: int = -1
    rec: int = -1
    groups: tuple = ()
    light: bool = False
    target: int = 0
    done: int = NEVER
    method: str | None = None
    fixed_done: int = 0


def _frac(t: int) -> int:
    # Defender prints 7 fractional digits; derived from the second so that one
    # moment always prints the same way.
    return (t * 2654435761) % 10_000_000


def _no_impact(d: int, r: int) -> bool:
    return (d * 2654435761 + r * 40503) % 100 < 65


class DemoTenant:
    """A demo Defender tenant whose data changes over 120 days of history.

    Attributes:
        tenant_id: the fixed demo tenant id.
        client_id: the app id the emulator accepts for the demo tenant.
        client_secret: the matching secret.
        now: the "today" the history ends at (UTC).
    """

    tenant_id = TENANT_ID
    client_id = CLIENT_ID
    client_secret = CLIENT_SECRET

    def __init__(self, now: datetime):
        self.now = now
        self._origin = now.replace(microsecond=0)
        self.groups: list[_Group] = []
        self.recs: list[_Rec] = []
        self.tasks: list[_Task] = []
        self.stalled = -1
        self.stall_start = NEVER
        # devices, one entry per device index
        self.ids: list[str] = []
        self.names: list[str] = []
        self.group0 = array("b")
        self.os = bytearray()
        self.version = bytearray()
        self.first_seen = array("i")
        self.silent_from = array("i")
        self.heard_until = array("i")
        self.is_mover = bytearray()
        self.movers: dict[int, tuple[int, int]] = {}
        self.risk = bytearray()
        self.value = bytearray()
        self.tags: list[tuple] = []
        self.person_ids: list[str] = []
        self.candidates: dict[tuple, list[int]] = {}
        self.quiet_heard: dict[tuple, list[int]] = {}

    # -- reading the model at one moment -----------------------------------------

    def at(self, when: datetime) -> dict:
        """Return the tenant as the Defender API serves it at `when`.

        Args:
            when: the moment to read (UTC; a naive datetime is taken as UTC).

        Returns:
            A JSON-serialisable dict with `tenant_id`, `clients`,
            `remediationTasks`, `taskMachines`, `recommendations`,
            `recommendationMachines` and `machines`. Device references inside it
            are shared between lists of the same answer.
        """
        started = time.perf_counter()
        x = self._instant(when)
        view = _View(self, x)
        recommendations, rec_machines = view.recommendations()
        tasks, task_machines = view.tasks()
        machines = view.machines()
        logger.debug(
            "Demo tenant at %s: %d activities, %d recommendations, %d devices, %.2f s",
            when.isoformat(),
            len(tasks),
            len(recommendations),
            len(machines),
            time.perf_counter() - started,
        )
        return {
            "tenant_id": self.tenant_id,
            "clients": {self.client_id: self.client_secret},
            "remediationTasks": tasks,
            "taskMachines": task_machines,
            "recommendations": recommendations,
            "recommendationMachines": rec_machines,
            "machines": machines,
        }

    def history_dates(self) -> list[datetime]:
        """Return the sync moments of the demo history, oldest first.

        Weekly from 120 days before `now` until 14 days before it, then daily up to
        and including the last 06:00 UTC at or before `now`.
        """
        end = self.now.replace(hour=6, minute=0, second=0, microsecond=0)
        if end > self.now:
            end -= timedelta(days=1)
        daily_from = end - timedelta(days=DAILY_DAYS)
        moment, dates = end - timedelta(days=HISTORY_DAYS), []
        while moment < daily_from:
            dates.append(moment)
            moment += timedelta(days=7)
        dates.extend(daily_from + timedelta(days=n) for n in range(DAILY_DAYS + 1))
        return dates

    def _instant(self, when: datetime) -> int:
        # The last whole model second whose printed time is not after `when`.
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        micros = (when - self._origin) // timedelta(microseconds=1)
        second, rest = divmod(micros, 1_000_000)
        second = max(min(second, NEVER - 1), -NEVER)
        return second if _frac(second) <= rest * 10 else second - 1

    # -- shared helpers -------------------------------------------------------------

    def _stamp(self, t: int) -> str:
        moment = self._origin + timedelta(seconds=t)
        return f"{moment:%Y-%m-%dT%H:%M:%S}.{_frac(t):07d}Z"

    def _day_stamp(self, t: int, plus_days: int = 0) -> str:
        day = (self._origin + timedelta(seconds=t)).date() + timedelta(days=plus_days)
        return f"{day:%Y-%m-%d}T00:00:00Z"

    def _group_at(self, d: int, x: int) -> int:
        move = self.movers.get(d)
        if move and move[0] <= x:
            return move[1]
        return self.group0[d]

    def _targets(self, task: _Task) -> list[int]:
        # The exposure rows the activity targets: exposed and reported in its
        # device groups when it was created.
        rec, c, heard = self.recs[task.rec], task.created, self.heard_until
        out: list[int] = []
        for g in task.groups:
            lo, hi = rec.spans.get(g, (0, 0))
            hi = bisect_right(rec.s1, c, lo, hi)
            rows = zip(
                range(lo, hi),
                rec.dev[lo:hi],
                rec.f1[lo:hi],
                rec.s2[lo:hi],
                rec.f2[lo:hi],
                strict=True,
            )
            found = [
                i
                for i, d, f1, s2, f2 in rows
                if (c < f1 or s2 <= c < f2) and heard[d] > c
            ]
            if rec.moved_in:
                found = self._in_group_then(rec, found, g, c)
            out += found
        if task.light:
            out = [i for i in out if _no_impact(rec.dev[i], task.rec)]
        return out

    def _in_group_then(self, rec: _Rec, found: list[int], g: int, c: int) -> list[int]:
        # Devices that changed group belong to the group they were in at `c`.
        dev, s1, f1, s2, f2 = rec.dev, rec.s1, rec.f1, rec.s2, rec.f2
        for i in rec.moved_in.get(g, ()):
            exposed = s1[i] <= c < f1[i] or s2[i] <= c < f2[i]
            if exposed and self.heard_until[dev[i]] > c:
                found.append(i)
        return [
            i
            for i in found
            if not self.is_mover[dev[i]] or self._group_at(dev[i], c) == g
        ]

    def _installed(self, rec: _Rec, x: int, exposed: int) -> int:
        # Devices with the software (or, for a setting, the platform) that report.
        candidates = len(self.candidates.get(rec.platforms, ()))
        gone = sum(1 for h in self.quiet_heard.get(rec.platforms, ()) if h <= x)
        share = 1.0 if rec.kind in "pc" else min(1.0, rec.prevalence * 1.6 + 0.02)
        return max(exposed, round((candidates - gone) * share))


class _View:
    """The tenant read at one model instant `x`."""

    def __init__(self, tenant: DemoTenant, x: int):
        self.t, self.x = tenant, x
        self.refs: list[dict | None] = [None] * len(tenant.ids)
        self.counts = array("i", bytes(4 * len(tenant.ids)))

    def ref(self, d: int) -> dict:
        ref = self.refs[d]
        if ref is None:
            t = self.t
            ref = self.refs[d] = {
                "id": t.ids[d],
                "computerDnsName": t.names[d],
                "osPlatform": _OS[t.os[d]][0],
                "rbacGroupName": t.groups[t._group_at(d, self.x)].label,
            }
        return ref

    def recommendations(self) -> tuple[list[dict], dict[str, list[dict]]]:
        items, machines = [], {}
        for r, rec in enumerate(self.t.recs):
            exposed = self._exposed(rec)
            machines[rec.rid] = [self.ref(d) for d in exposed]
            items.append(self._recommendation(r, rec, exposed))
        return items, machines

    def _exposed(self, rec: _Rec) -> list[int]:
        x, heard, counts = self.x, self.t.heard_until, self.counts
        rows = zip(rec.dev, rec.s1, rec.f1, rec.s2, rec.f2, strict=True)
        out = [
            d
            for d, s1, f1, s2, f2 in rows
            if (s1 <= x < f1 or s2 <= x < f2) and heard[d] > x
        ]
        for d in out:
            counts[d] += 1
        return out

    def _recommendation(self, r: int, rec: _Rec, exposed: list[int]) -> dict:
        total = self.t._installed(rec, self.x, len(exposed))
        light = sum(1 for d in exposed if _no_impact(d, r)) if rec.scid else 0
        impact = rec.severity * len(exposed) / max(1, len(self.t.ids)) * 2
        return {
            "id": rec.rid,
            "productName": rec.product,
            "recommendationName": rec.name,
            "weaknesses": rec.weaknesses,
            "vendor": rec.vendor,
            "recommendedVersion": rec.recommended or "",
            "recommendationCategory": rec.category,
            "subCategory": rec.sub_category,
            "severityScore": rec.severity,
            "publicExploit": rec.public_exploit,
            "activeAlert": rec.active_alert,
            "associatedThreats": list(rec.threats),
            "remediationType": rec.remediation,
            "status": rec.status,
            "configScoreImpact": rec.config_impact,
            "exposureImpact": round(impact, 6),
            "totalMachineCount": total,
            "exposedMachinesCount": len(exposed),
            "nonProductivityImpactedAssets": light,
            "relatedComponent": rec.component,
            "tags": list(rec.tags),
        }

    def tasks(self) -> tuple[list[dict], dict[str, list[dict]]]:
        items, machines = [], {}
        for task in self.t.tasks:
            if task.created > self.x or task.done + RETENTION <= self.x:
                continue
            if task.done <= self.x:
                items.append(self._task(task, task.fixed_done, task.done))
                machines[task.tid] = []
                continue
            fixed, changed, exposed = self._progress(task)
            items.append(self._task(task, fixed, changed))
            machines[task.tid] = [self.ref(d) for d in exposed]
        return items, machines

    def _progress(self, task: _Task) -> tuple[int, int, list[int]]:
        x, c, heard = self.x, task.created, self.t.heard_until
        fixed, changed, exposed = 0, c, []
        for s1, f1, s2, f2, d in _rows(self.t.recs[task.rec], self.t._targets(task)):
            if s1 <= x < f1:
                if heard[d] > x:
                    exposed.append(d)
            elif s2 <= x < f2:
                if heard[d] > x:
                    exposed.append(d)
                if s2 > c:
                    changed = max(changed, s2)
            else:
                # fixed: the last change is the fix, or the second fix after a
                # regression
                fixed += 1
                changed = max(changed, f2 if f2 <= x else f1)
        return fixed, changed, exposed

    def _task(self, task: _Task, fixed: int, changed: int) -> dict:
        t, rec = self.t, self.t.recs[task.rec]
        done = task.done <= self.x
        manual = done and task.method == "Manual"
        completer_id = completer_email = None
        if manual:
            completer_id = t.person_ids[len(_REQUESTERS) + task.completer]
            completer_email = _mail(_COMPLETERS[task.completer])
        software = rec.scid is None
        item = {
            "id": task.tid,
            "title": rec.name,
            "createdOn": t._stamp(task.created),
            "requesterId": t.person_ids[task.requester],
            "requesterEmail": _mail(_REQUESTERS[task.requester]),
            "status": "Completed" if done else "Active",
            "statusLastModifiedOn": t._stamp(changed),
            "description": _description(task.kind, rec),
            "relatedComponent": rec.component,
            "targetDevices": task.target,
            "rbacGroupNames": [t.groups[g].label for g in task.groups],
            "fixedDevices": fixed,
            "requesterNotes": task.notes,
            "dueOn": None,
            "category": "Software" if software else "SecurityConfiguration",
            "productivityImpactRemediationType": None,
            "priority": task.priority,
            "completionMethod": task.method if done else None,
            "completerId": completer_id,
            "completerEmail": completer_email,
            "scid": None if software else f"scid-{rec.scid}",
            "type": task.kind,
            "productId": f"{rec.vendor}-_-{rec.product}" if software else None,
            "vendorId": rec.vendor if software else None,
            "nameId": rec.product if software else None,
            "recommendedVersion": None,
            "recommendedVendor": None,
            "recommendedProgram": None,
        }
        return self._task_extras(item, task, rec)

    def _task_extras(self, item: dict, task: _Task, rec: _Rec) -> dict:
        if task.due_days is not None:
            item["dueOn"] = self.t._day_stamp(task.created, task.due_days)
        if rec.scid is not None:
            light = "NonProductivityImpactedAssets" if task.light else None
            item["productivityImpactRemediationType"] = light or "AllExposedAssets"
        if task.kind == "Upgrade" and rec.recommended:
            item["recommendedVersion"] = rec.recommended
            if not rec.recommended[0].isdigit():
                item["recommendedVendor"] = rec.vendor
                item["recommendedProgram"] = rec.recommended
        return item

    def machines(self) -> list[dict]:
        t, x, out = self.t, self.x, []
        for d, first in enumerate(t.first_seen):
            if first <= x:
                out.append(self._machine(d, first))
        return out

    def _machine(self, d: int, first: int) -> dict:
        t, x = self.t, self.x
        silent = t.silent_from[d]
        heard = (
            silent
            if silent <= x
            else x - 60 - (d * 7919 + x // DAY * 104729) % (5 * HOUR)
        )
        g = t.groups[t._group_at(d, x)]
        platform, versions, _ = _OS[t.os[d]]
        version, build = versions[t.version[d]]
        return {
            "id": t.ids[d],
            "computerDnsName": t.names[d],
            "firstSeen": t._stamp(first),
            "lastSeen": t._stamp(max(heard, first)),
            "osPlatform": platform,
            "version": version,
            "osBuild": build,
            "healthStatus": "Inactive" if silent + INACTIVE_AFTER <= x else "Active",
            "onboardingStatus": "Onboarded",
            "rbacGroupId": g.gid,
            "rbacGroupName": g.name,
            "riskScore": _RISK[t.risk[d]],
            "exposureLevel": _exposure_level(self.counts[d]),
            "isAadJoined": g.kind != "servers" and t.os[d] in WIN,
            "machineTags": list(t.tags[d]),
            "isExcluded": False,
            "exclusionReason": None,
            "mergedIntoMachineId": None,
            "managedBy": _managed_by(g, t.os[d]),
            "deviceValue": _VALUE[t.value[d]],
        }


def _mail(person: str) -> str:
    return f"{person.lower().replace(' ', '.')}@{MAIL_DOMAIN}"


def _exposure_level(count: int) -> str:
    if count == 0:
        return "None"
    return "Low" if count <= 3 else "Medium" if count <= 8 else "High"


def _managed_by(group: _Group, os_index: int) -> str:
    if group.kind == "servers":
        return "MDE"
    return "Intune" if os_index in WIN + (MAC,) else "Unknown"


def _description(kind: str, rec: _Rec) -> str:
    name, count = rec.component, rec.weaknesses
    if kind == "ConfigurationChange":
        return (
            f"{rec.name} on the exposed devices. This security configuration "
            "change reduces the attack surface of your organization."
        )
    if kind == "AttentionRequired":
        return (
            f"{count} known vulnerabilities affect {name} and no single remediation "
            "covers every device. Review the exposed devices and mitigate."
        )
    if kind == "Uninstall":
        return (
            f"Uninstall {name}: it has reached its end of life and no longer "
            f"receives security updates ({count} known vulnerabilities)."
        )
    if kind == "Upgrade":
        return (
            f"Upgrade {name} to {rec.recommended} to mitigate {count} known "
            "vulnerabilities in versions which have reached their end of support."
        )
    return (
        f"Update {name} to a later version to mitigate {count} known "
        "vulnerabilities affecting your devices."
    )


# --------------------------------------------------------------------------------
# Building the model


def generate(
    seed: int = 7,
    devices: int = 1500,
    activities: int | None = None,
    now: datetime | None = None,
) -> DemoTenant:
    """Build the deterministic demo tenant.

    Args:
        seed: what every random choice is drawn from; the same arguments always
            give the same tenant.
        devices: number of onboarded devices.
        activities: number of remediation activities; by default 40 to 80, chosen
            by the seed.
        now: the moment the history ends at (UTC); by default 06:00 UTC today.

    Returns:
        The tenant; read it at any moment with `DemoTenant.at`.
    """
    started = time.perf_counter()
    if now is None:
        today = datetime.now(UTC).date()
        now = datetime(today.year, today.month, today.day, 6, tzinfo=UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    tenant = _Builder(seed, max(1, devices), activities, now).build()
    logger.info(
        "Built the demo tenant: %d devices, %d recommendations, %d activities "
        "in %.2f s",
        len(tenant.ids),
        len(tenant.recs),
        len(tenant.tasks),
        time.perf_counter() - started,
    )
    return tenant


class _Builder:
    """Draws the tenant step by step from one random generator."""

    def __init__(self, seed: int, devices: int, activities: int | None, now):
        self.rng = random.Random(seed)
        self.n = devices
        self.activities = activities
        self.t = DemoTenant(now)

    def build(self) -> DemoTenant:
        self._groups()
        self._devices()
        self._quiet_devices()
        self._moving_devices()
        self._recommendations()
        self._exposures()
        self._people()
        self._activities()
        return self.t

    # -- device groups and devices --------------------------------------------------

    def _groups(self) -> None:
        rng, t = self.rng, self.t
        optional = [row for row in _GROUPS if row[0] not in _ALWAYS_GROUPS]
        extra = rng.sample(optional, rng.randint(1, len(optional)))
        chosen = [row for row in _GROUPS if row[0] in _ALWAYS_GROUPS or row in extra]
        for gid, name, prefix, weight, roaming, median, lag in chosen:
            kind = "unassigned" if name is None else name.split()[0].lower()
            weight *= rng.uniform(0.7, 1.3)
            median *= rng.uniform(0.8, 1.25)
            mix = _OS_MIX[prefix]
            t.groups.append(
                _Group(gid, name, kind, prefix, weight, mix, roaming, median, lag)
            )
        settled = [
            g
            for g, group in enumerate(t.groups)
            if group.kind == "workstations" and not group.roaming
        ]
        fast, t.stalled = rng.sample(settled, 2)
        t.groups[fast].median_days, t.groups[fast].stragglers = 2.5, 0.02
        t.stall_start = -rng.randint(16, 24) * DAY - rng.randrange(DAY)

    def _devices(self) -> None:
        rng, t = self.rng, self.t
        counts = _split(self.n, [g.weight for g in t.groups])
        serials: dict[tuple[int, str], int] = {}
        for g, (group, count) in enumerate(zip(t.groups, counts, strict=True)):
            systems = [os_index for os_index, _ in group.os_mix]
            weights = [w for _, w in group.os_mix]
            for os_index in rng.choices(systems, weights, k=count):
                self._device(g, group, os_index, serials)

    def _device(self, g: int, group: _Group, os_index: int, serials: dict) -> None:
        rng, t = self.rng, self.t
        platform, versions, host_kind = _OS[os_index]
        if group.kind != "servers" and host_kind == "lnx":
            host_kind = "dev"
        serial = serials[g, host_kind] = serials.get((g, host_kind), 0) + 1
        name = f"{group.prefix}-{host_kind}{serial:04d}"
        t.group0.append(g)
        t.os.append(os_index)
        t.version.append(rng.randrange(len(versions)))
        t.ids.append(f"{rng.getrandbits(160):040x}")
        t.names.append(name if host_kind == "mac" else f"{name}.{DNS_SUFFIX}")
        t.first_seen.append(
            _HISTORY_START - rng.randint(30, 900) * DAY - rng.randrange(DAY)
        )
        server = group.kind == "servers"
        t.risk.append(
            rng.choices(
                range(5), (20, 15, 30, 25, 10) if server else (35, 20, 25, 15, 5)
            )[0]
        )
        t.value.append(
            2 if group.prefix == "dmz" else rng.choices((0, 1, 2), (8, 85, 7))[0]
        )
        t.tags.append(rng.choice(_SERVER_TAGS if server else _MACHINE_TAGS))

    def _quiet_devices(self) -> None:
        # Roaming laptops that stop reporting: some long enough ago to be no longer
        # reported, some only recently inactive.
        rng, t = self.rng, self.t
        t.silent_from = array("i", [NEVER]) * self.n
        roaming = [d for d, g in enumerate(t.group0) if t.groups[g].roaming]
        quiet = rng.sample(roaming, min(len(roaming), max(3, round(self.n * 0.008))))
        for n, d in enumerate(quiet):
            days = rng.uniform(35, 100) if n % 2 == 0 else rng.uniform(8, 28)
            t.silent_from[d] = -int(days * DAY)
        t.heard_until = array(
            "i", (min(NEVER, s + SILENT_LIMIT) for s in t.silent_from)
        )

    def _moving_devices(self) -> None:
        rng, t = self.rng, self.t
        t.is_mover = bytearray(self.n)
        roaming = [g for g, group in enumerate(t.groups) if group.roaming]
        steady = [
            d
            for d, g in enumerate(t.group0)
            if t.groups[g].roaming and t.silent_from[d] == NEVER
        ]
        for d in rng.sample(steady, min(len(steady), rng.randint(2, 3))):
            to = rng.choice([g for g in roaming if g != t.group0[d]] or roaming)
            t.movers[d] = (-rng.randint(10, 90) * DAY - rng.randrange(DAY), to)
            t.is_mover[d] = 1

    # -- recommendations and exposures ---------------------------------------------

    def _recommendations(self) -> None:
        rng, t = self.rng, self.t
        wanted = rng.randint(64, 112)
        core = [row for row in _SOFTWARE if row[1] in _CORE_SOFTWARE]
        core += [row for row in _CONFIGURATION if row[0] in _CORE_CONFIGURATION]
        rest = [row for row in _SOFTWARE + _CONFIGURATION if row not in core]
        rows = core + rng.sample(rest, min(len(rest), wanted - len(core)))
        for row in rows:
            rec = self._software(row) if isinstance(row[0], str) else self._setting(row)
            t.recs.append(rec)
        t.recs.sort(key=lambda rec: rec.rid)
        # exceptions: rare software and settings the organisation accepts
        rare = [rec for rec in t.recs if rec.prevalence <= 0.06 and rec.kind in "uc"]
        for rec in rng.sample(rare, min(len(rare), 3)):
            rec.status = "Exception"

    def _software(self, row: tuple) -> _Rec:
        rng = self.rng
        vendor, product, component, platforms, prevalence, kind = row
        verb = {"g": "Upgrade", "x": "Uninstall"}.get(kind, "Update")
        exploit = rng.random() < 0.35
        return _Rec(
            rid=f"va-_-{vendor}-_-{product}",
            name=f"{verb} {component}",
            kind=kind,
            platforms=_platforms(platforms),
            prevalence=prevalence,
            remediation=verb,
            component=component,
            vendor=vendor,
            product=product,
            recommended=_UPGRADE_TO.get(product),
            weaknesses=rng.randint(1, 60) if kind != "p" else rng.randint(40, 400),
            severity=round(rng.uniform(4.0, 9.8), 1),
            public_exploit=exploit,
            active_alert=exploit and rng.random() < 0.2,
            threats=[_uuid(rng) for _ in range(rng.randint(1, 3))] if exploit else [],
            tags=["internetFacing"] if kind == "a" and rng.random() < 0.5 else [],
        )

    def _setting(self, row: tuple) -> _Rec:
        rng = self.rng
        scid, name, sub_category, platforms, prevalence = row
        return _Rec(
            rid=f"sca-_-scid-{scid}",
            name=name,
            kind="c",
            platforms=_platforms(platforms),
            prevalence=prevalence,
            remediation="ConfigurationChange",
            component=_SUB_CATEGORY.get(sub_category, sub_category),
            scid=scid,
            category=_CATEGORY.get(sub_category, "Security controls"),
            sub_category=_SUB_CATEGORY.get(sub_category, sub_category),
            severity=round(rng.uniform(3.0, 9.0), 1),
            config_impact=round(rng.uniform(0.2, 6.0), 2),
        )

    def _exposures(self) -> None:
        t = self.t
        by_os: dict[int, list[int]] = {}
        for d, os_index in enumerate(t.os):
            by_os.setdefault(os_index, []).append(d)
        t.candidates, t.quiet_heard = {}, {}
        for platforms in {rec.platforms for rec in t.recs}:
            found = sorted(d for o in platforms for d in by_os.get(o, ()))
            t.candidates[platforms] = found
            quiet = [t.heard_until[d] for d in found if t.silent_from[d] != NEVER]
            t.quiet_heard[platforms] = quiet
        self.waves = self._waves()
        for rec in t.recs:
            self._expose(rec, t.candidates[rec.platforms])

    def _waves(self) -> dict[str, list[int]]:
        # Browsers and chat apps ship a fix every few weeks; Windows on the second
        # Tuesday of the month.
        rng, t = self.rng, self.t
        waves, moment = [], _HISTORY_START + rng.randrange(10 * DAY)
        while moment < 0:
            waves.append(moment)
            moment += rng.randint(18, 32) * DAY
        return {"a": waves, "p": _patch_tuesdays(t._origin)}

    def _expose(self, rec: _Rec, candidates: list[int]) -> None:
        rng, t = self.rng, self.t
        share = rec.prevalence * rng.uniform(0.7, 1.3)
        picked = rng.sample(candidates, round(len(candidates) * min(1.0, share)))
        start_at = self._starts(rec)
        background, median = _BACKGROUND.get(rec.kind, (0.0, 1.0))
        chance, silent, group0, rows = rng.random, t.silent_from, t.group0, []
        for d in picked:
            start = max(start_at(), t.first_seen[d] + DAY)
            if start >= silent[d]:
                continue
            fixed = NEVER
            if chance() < background:
                since = max(start, _HISTORY_START - 3 * DAY)
                fixed = self._cap(d, since + self._days(median))
            rows.append((group0[d], start, d, fixed))
        rows.sort()
        rec.dev = array("i", (row[2] for row in rows))
        rec.s1 = array("i", (row[1] for row in rows))
        rec.f1 = array("i", (row[3] for row in rows))
        rec.s2 = array("i", [NEVER]) * len(rows)
        rec.f2 = array("i", [NEVER]) * len(rows)
        rec.drawn = bytearray(len(rows))
        self._index(rec, [row[0] for row in rows])

    def _index(self, rec: _Rec, groups: list[int]) -> None:
        for g in sorted(set(groups)):
            rec.spans[g] = (bisect_left(groups, g), bisect_right(groups, g))
        for d, (_, to) in self.t.movers.items():
            if d in rec.dev:
                rec.moved_in.setdefault(to, []).append(rec.dev.index(d))

    def _starts(self, rec: _Rec):
        """A function drawing when each exposure of `rec` begins."""
        chance, baseline = self.rng.random, _BASELINE[rec.kind]
        spread = (20 if rec.kind in "ap" else 300) * DAY
        waves = self.waves.get(rec.kind)

        def start() -> int:
            if chance() < baseline:
                return _HISTORY_START - int(chance() * spread)
            if waves:
                wave = waves[int(chance() * len(waves))]
                return wave + int(-math.log(1.0 - chance()) * 1.5 * DAY)
            return _HISTORY_START + int(chance() * -_HISTORY_START)

        return start

    def _days(self, median: float) -> int:
        days = median * math.exp(0.8 * self.rng.gauss(0.0, 1.0))
        return int(min(max(days, 0.08), 200) * DAY)

    def _cap(self, d: int, fixed_at: int) -> int:
        # Quiet devices report no fixes, and the stalled group fixes nothing.
        t = self.t
        if fixed_at >= t.silent_from[d] or fixed_at >= NEVER:
            return NEVER
        if t.group0[d] == t.stalled and fixed_at >= t.stall_start:
            return NEVER
        return fixed_at

    # -- remediation activities -----------------------------------------------------

    def _people(self) -> None:
        self.t.person_ids = [
            _uuid(self.rng) for _ in range(len(_REQUESTERS) + len(_COMPLETERS))
        ]

    def _activities(self) -> None:
        rng, t = self.rng, self.t
        count = self.activities
        if count is None:
            count = rng.randint(40, 80)
        self.pools = self._pools()
        self.covered: set[tuple[int, int]] = set()
        self.forced = _FORCED_REGRESSIONS
        self.placed: Counter[str] = Counter()
        plans = _spread(count, rng)
        self._due_soon(plans)
        self._watch_quiet_device(plans)
        for task in sorted(plans, key=lambda task: task.created):
            if self._place(task):
                t.tasks.append(task)

    def _due_soon(self, plans: list[_Task]) -> None:
        # Two recent activities fall due within the coming week.
        rng, today = self.rng, self.t._origin.date()
        dated = [t for t in plans if t.plan == "active" and t.due_days and not t.pinned]
        for task in dated[:2]:
            task.pinned = True
            task.created = -rng.randint(2, 12) * DAY - rng.randrange(DAY)
            created_on = (self.t._origin + timedelta(seconds=task.created)).date()
            task.due_days = (today - created_on).days + rng.randint(1, 6)

    def _watch_quiet_device(self, plans: list[_Task]) -> None:
        # One activity targets a device days before it goes quiet for good, so the
        # tenant always holds a device that is no longer reported, not fixed.
        t, rng = self.t, self.rng
        gone = [d for d, s in enumerate(t.silent_from) if s <= -35 * DAY]
        spare = [
            p
            for p in plans
            if p.plan == "active" and p.kind in ("Update", "ConfigurationChange")
        ]
        spare = [p for p in spare if not p.pinned]
        if gone and spare:
            task, d = spare[0], rng.choice(gone)
            task.pinned, task.watch = True, d
            task.created = t.silent_from[d] - rng.randint(1, 5) * DAY

    def _pools(self) -> dict[str, tuple[list[int], list[float]]]:
        open_recs = [
            (r, rec) for r, rec in enumerate(self.t.recs) if rec.status == "Active"
        ]
        pools = {}
        for kind in _TYPES:
            members = [r for r, rec in open_recs if _fits(kind, rec)]
            weights = [math.sqrt(len(self.t.recs[r].dev)) + 1 for r in members]
            pools[kind] = (members, weights)
        return pools

    def _place(self, task: _Task) -> bool:
        for attempt in range(32):
            if attempt == 8 and task.plan == "auto":
                task.plan = "active"
            if attempt == 16 and self.placed[task.kind]:
                self._make_update(task)
            if not self._choose(task):
                continue
            targets = self.t._targets(task)
            if targets:
                self._settle(task, targets)
                self.placed[task.kind] += 1
                return True
        logger.debug("Demo activity %s found no exposed device; left out", task.tid)
        return False

    def _make_update(self, task: _Task) -> None:
        # Rare recommendations run out of exposed devices in large tenants; the
        # activity becomes an update so the tenant keeps the number asked for.
        task.kind = "Update"
        if task.due_days is None:
            task.due_days = self.rng.randint(*_DUE_DAYS[task.priority])

    def _choose(self, task: _Task) -> bool:
        rng, t = self.rng, self.t
        members, weights = self.pools[task.kind]
        if not members:
            return False
        if task.watch >= 0:
            return self._choose_watched(task, rng.sample(members, len(members)))
        r = rng.choices(members, weights)[0]
        rec, c = t.recs[r], task.created
        open_groups = [g for g, (lo, _) in rec.spans.items() if rec.s1[lo] <= c]
        if task.plan == "auto":
            open_groups = [g for g in open_groups if self._fresh(r, g)]
        if not open_groups:
            return False
        groups = rng.sample(open_groups, _group_count(rng, len(open_groups)))
        if task.with_stalled and t.stalled in open_groups and t.stalled not in groups:
            groups.append(t.stalled)
        task.rec, task.groups = r, tuple(sorted(groups))
        task.light = rec.scid is not None and rng.random() < 0.3
        return True

    def _choose_watched(self, task: _Task, members: list[int]) -> bool:
        # a recommendation the watched device is exposed to and never fixed for
        t, d, c = self.t, task.watch, task.created
        task.watch = -1
        for r in members:
            rec = t.recs[r]
            i = rec.dev.index(d) if d in rec.dev else -1
            if i >= 0 and rec.s1[i] <= c and rec.f1[i] == NEVER:
                task.rec, task.groups, task.keep = r, (t._group_at(d, c),), i
                return True
        return False

    def _fresh(self, r: int, g: int) -> bool:
        group = self.t.groups[g]
        return not group.roaming and g != self.t.stalled and (r, g) not in self.covered

    def _settle(self, task: _Task, targets: list[int]) -> None:
        rec, c, t = self.t.recs[task.rec], task.created, self.t
        bound = min(30 * DAY, -2 * DAY - c) if task.plan == "auto" else None
        # Only the first activity to target an exposure decides when it is fixed.
        first = [i for i in targets if not rec.drawn[i] and rec.s1[i] <= c < rec.f1[i]]
        # whoever completes an activity by hand leaves at least one device behind
        keep = task.keep
        if keep < 0 and task.plan in ("manual", "unknown"):
            keep = next((i for i in first if rec.f1[i] == NEVER), -1)
        for i in first:
            rec.drawn[i] = 1
            if i == keep:
                continue
            d = rec.dev[i]
            g = t._group_at(d, c) if t.is_mover[d] else t.group0[d]
            delay = self._delay(t.groups[g], bound)
            if delay == NEVER:
                continue
            rec.f1[i] = min(self._cap(d, c + delay), rec.f1[i])
            if bound is None and task.plan == "active":
                self._regress(rec, i, c)
        self.covered.update((task.rec, g) for g in task.groups)
        task.target = len(targets)
        self._complete(task, rec, targets)

    def _delay(self, group: _Group, bound: int | None) -> int:
        # Activities that must finish draw within their bound and have no
        # stragglers.
        if bound is not None:
            cap = int(bound * self.rng.uniform(0.3, 1))
            return max(2 * HOUR, min(self._days(group.median_days), cap))
        if self.rng.random() < group.stragglers:
            return NEVER
        return max(2 * HOUR, self._days(group.median_days))

    def _regress(self, rec: _Rec, i: int, c: int) -> None:
        # A fixed device exposed again some days later (a reinstall, a rollback).
        rng, fixed_at, d = self.rng, rec.f1[i], rec.dev[i]
        if fixed_at == NEVER or self.t.silent_from[d] != NEVER:
            return
        shown = -50 * DAY <= fixed_at <= -20 * DAY and fixed_at - c >= 8 * DAY
        if self.forced and shown:
            self.forced -= 1
            rec.s2[i] = fixed_at + rng.randint(8, 16) * DAY
        elif rng.random() < _REGRESSION_RATE:
            rec.s2[i] = fixed_at + rng.randint(8, 30) * DAY
            if rng.random() < 0.5:
                rec.f2[i] = self._cap(d, rec.s2[i] + self._days(10))

    def _complete(self, task: _Task, rec: _Rec, targets: list[int]) -> None:
        c, ends, later = task.created, [], []
        for s1, f1, s2, f2, _ in _rows(rec, targets):
            if s1 <= c < f1:
                ends.append(f1)
                if s2 != NEVER:
                    later.append((s2, f2))
            else:
                ends.append(f2)
        # the first moment no target is exposed, counting regressions
        all_fixed = max(ends)
        for start, end in sorted(later):
            if start > all_fixed:
                break
            all_fixed = max(all_fixed, end)
        if all_fixed < min(NEVER, task.finish_at):
            task.done, task.method, task.fixed_done = all_fixed, "Automatic", len(ends)
        elif task.finish_at < NEVER:
            m = task.done = task.finish_at
            task.method = "Manual" if task.plan == "manual" else None
            task.fixed_done = sum(
                1
                for s1, f1, s2, f2, _ in _rows(rec, targets)
                if not (s1 <= m < f1 or s2 <= m < f2)
            )


def _rows(rec: _Rec, rows: list[int]):
    """(exposed from, fixed at, exposed again, fixed again, device) of `rows`."""
    return zip(
        [rec.s1[i] for i in rows],
        [rec.f1[i] for i in rows],
        [rec.s2[i] for i in rows],
        [rec.f2[i] for i in rows],
        [rec.dev[i] for i in rows],
        strict=True,
    )


def _spread(count: int, rng: random.Random) -> list[_Task]:
    """Plan `count` activities: type, priority, creation, and how each one ends."""
    kinds = _covering(_TYPES, _TYPE_WEIGHTS, count, rng)
    priorities = _covering(_PRIORITIES, _PRIORITY_WEIGHTS, count, rng)
    ends = ["unknown"] * max(1, round(count * 0.06))
    ends += ["auto"] * max(1, round(count * 0.1))
    ends += ["manual"] * max(1, round(count * 0.14))
    ends = (ends + ["active"] * count)[:count]
    rng.shuffle(ends)
    tasks = [
        _plan(kind, priority, end, rng)
        for kind, priority, end in zip(kinds, priorities, ends, strict=True)
    ]
    watched = next((task for task in tasks if task.plan == "active"), None)
    if watched:
        watched.created = -rng.randint(25, 60) * DAY - rng.randrange(DAY)
        watched.with_stalled = watched.pinned = True
    return tasks


def _plan(kind: str, priority: str, end: str, rng: random.Random) -> _Task:
    if end == "unknown":
        created = -rng.randint(128, 165) * DAY
    elif end == "auto":
        created = -rng.randint(14, 140) * DAY
    elif end == "manual":
        created = -rng.randint(8, 150) * DAY
    elif rng.random() < 0.15:
        created = -rng.randint(121, 160) * DAY
    else:
        created = -int(HISTORY_DAYS * DAY * rng.random() ** 1.25)
    created -= rng.randrange(DAY)
    task = _Task(
        tid=_uuid(rng),
        created=created,
        kind=kind,
        priority=priority,
        plan=end,
        requester=rng.randrange(len(_REQUESTERS)),
        completer=rng.randrange(len(_COMPLETERS)),
        notes=rng.choice(_NOTES),
        due_days=None
        if kind == "AttentionRequired"
        else rng.randint(*_DUE_DAYS[priority]),
    )
    if end in ("manual", "unknown"):
        task.finish_at = min(-DAY, created + int(rng.uniform(4, 40) * DAY))
    return task


def _covering(values, weights, count: int, rng: random.Random) -> list:
    """`count` weighted choices that include every value at least once."""
    chosen = list(values)[:count]
    chosen += rng.choices(values, weights, k=count - len(chosen))
    rng.shuffle(chosen)
    return chosen


def _fits(kind: str, rec: _Rec) -> bool:
    if kind == "ConfigurationChange":
        return rec.scid is not None
    if kind == "AttentionRequired":
        return rec.scid is None
    return rec.remediation == kind


def _group_count(rng: random.Random, available: int) -> int:
    roll = rng.random()
    if roll < 0.45:
        return 1
    if roll < 0.7:
        return min(2, available)
    if roll < 0.82:
        return min(3, available)
    if roll < 0.9:
        return available
    return rng.randint(1, available)


def _split(total: int, weights: list[float]) -> list[int]:
    """Divide `total` devices by weight, largest remainders first."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    counts = [int(e) for e in exact]
    order = sorted(range(len(weights)), key=lambda g: counts[g] - exact[g])
    for g in order[: total - sum(counts)]:
        counts[g] += 1
    return counts


def _patch_tuesdays(origin: datetime) -> list[int]:
    """Second Tuesdays of the months in the history, 18:00 UTC, as model seconds."""
    out, first = [], (origin - timedelta(days=HISTORY_DAYS + 31)).date()
    year, month = first.year, first.month
    while True:
        day = date(year, month, 1)
        tuesday = day + timedelta(days=(1 - day.weekday()) % 7 + 7)
        moment = datetime(tuesday.year, tuesday.month, tuesday.day, 18, tzinfo=UTC)
        offset = int((moment - origin).total_seconds())
        if offset >= 0:
            return out or [_HISTORY_START]
        if offset >= _HISTORY_START:
            out.append(offset)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _platforms(codes: str) -> tuple[int, ...]:
    return tuple(sorted({o for code in codes for o in _PLATFORM_CODES[code]}))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
