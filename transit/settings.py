"""One frozen settings object, read from ``TRANSIT_*`` environment variables and an optional TOML file.

Parsing is pure and synchronous (the asyncpg habit): it runs before any I/O and raises
:class:`ConfigError` naming the key, so a wrong value stops start-up with a message an operator
can act on.  Precedence, lowest first: defaults, the TOML file, the environment, command-line
options.

Every field of a section maps to ``TRANSIT_<SECTION>_<FIELD>`` (``TRANSIT_HTTP_PORT``) and to
``[section] field`` in TOML.  Top-level fields map to ``TRANSIT_<FIELD>`` (``TRANSIT_TIMEZONE``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tomllib
import types
import typing
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_PREFIX = "TRANSIT_"


class ConfigError(ValueError):
    """A setting has a wrong value; the message names the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration error: {key}: {problem}")
        self.key = key
        self.problem = problem


def _port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be a port number between 0 and 65535"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _share(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else "must be a share between 0 and 1"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "must not be negative"


def _check(check: Any) -> dict[str, Any]:
    return {"check": check}


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    #: PostgreSQL DSN.  Unset means: start an embedded PostgreSQL in ``data_dir``.
    url: str | None = None
    pool_min: int = field(default=2, metadata=_check(_positive))
    pool_max: int = field(default=10, metadata=_check(_positive))


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_check(_port))
    #: Seconds allowed for in-flight requests and queued work to drain on shutdown.
    shutdown_timeout_s: float = field(default=10.0, metadata=_check(_non_negative))


@dataclass(frozen=True, slots=True)
class IngestSettings:
    #: Bearer token for ``/api/v1/ingest/*``.  Unset means ingest endpoints refuse everything.
    token: str | None = None
    max_future_s: float = field(default=120.0, metadata=_check(_non_negative))
    max_past_s: float = field(default=7 * 86400.0, metadata=_check(_positive))
    #: Fixes held in memory while PostgreSQL is unreachable; past this, senders are refused.
    buffer_max_fixes: int = field(default=200_000, metadata=_check(_positive))
    #: Longest a fix waits for its group commit.
    commit_interval_s: float = field(default=0.05, metadata=_check(_positive))
    max_body_bytes: int = field(default=16 * 1024 * 1024, metadata=_check(_positive))
    #: Polled GTFS-Realtime VehiclePositions feeds: a list of tables
    #: ``{url = "...", interval_s = 15, headers = {...}}`` in TOML, or the same list as JSON in the
    #: environment variable.
    gtfs_rt_feeds: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class AdminSettings:
    token: str | None = None


@dataclass(frozen=True, slots=True)
class Jt808Settings:
    host: str = "0.0.0.0"
    port: int = field(default=6808, metadata=_check(_port))
    max_frame_bytes: int = field(default=4096, metadata=_check(_positive))
    idle_timeout_s: float = field(default=600.0, metadata=_check(_positive))
    max_connections_per_ip: int = field(default=64, metadata=_check(_positive))
    #: Bad frames a connection may send before it is closed.
    error_budget: int = field(default=50, metadata=_check(_positive))
    #: Accept location reports from terminals not in the registry (they get a provisional vehicle).
    allow_unregistered: bool = False


@dataclass(frozen=True, slots=True)
class TrackingSettings:
    #: A vehicle silent for longer than this leaves the snapshot.
    vehicle_stale_s: float = field(default=300.0, metadata=_check(_positive))
    #: A fix farther than this from the trip's shape is off-route.
    off_route_m: float = field(default=120.0, metadata=_check(_positive))
    #: Off route but within this of the shape (a detour a street or two over), a vehicle still
    #: advances to where it projects onto its trip; 0 holds it where it left the route.
    off_route_follow_m: float = field(default=600.0, metadata=_check(_non_negative))
    #: Predictions computed from a fix older than this are dropped from feeds and boards.
    prediction_stale_s: float = field(default=180.0, metadata=_check(_positive))
    min_layover_s: float = field(default=120.0, metadata=_check(_non_negative))
    #: Buses running early wait at timepoints (exact times inside a trip; GTFS ``timepoint`` not
    #: 0) rather than leave more than ``timepoint_early_s`` before their scheduled departure.
    hold_at_timepoints: bool = True
    timepoint_early_s: float = field(default=60.0, metadata=_check(_non_negative))
    #: Longest the writer waits to fill a batch before applying it.
    batch_interval_s: float = field(default=0.2, metadata=_check(_positive))
    #: Most fixes the writer applies in one batch.
    max_batch_fixes: int = field(default=20_000, metadata=_check(_positive))
    #: Days of recorded arrivals the travel-time models learn from at start.
    history_days: int = field(default=56, metadata=_check(_positive))
    #: Seconds of stored positions replayed at start to rebuild the vehicles' state.
    replay_window_s: float = field(default=900.0, metadata=_check(_non_negative))
    #: Each vehicle's served predictions are sampled for accuracy at most this often.
    accuracy_sample_s: float = field(default=60.0, metadata=_check(_positive))


@dataclass(frozen=True, slots=True)
class ApiSettings:
    #: Rider API requests per second allowed per client IP (token bucket, burst = 2x).
    rate_limit_per_s: float = field(default=20.0, metadata=_check(_positive))
    #: Trust X-Forwarded-For for the client IP (only behind a known proxy).
    trust_forwarded_for: bool = False
    #: Seconds between heartbeat events on a quiet live stream (/api/v1/stops/{id}/stream).
    stream_heartbeat_s: float = field(default=15.0, metadata=_check(_positive))


@dataclass(frozen=True, slots=True)
class BoardSettings:
    #: A board is online if it polled within this many of its intervals.
    online_intervals: float = field(default=3.0, metadata=_check(_positive))
    #: Seconds before arrival at which a board shows 即将到站.
    arriving_s: float = field(default=60.0, metadata=_check(_non_negative))


@dataclass(frozen=True, slots=True)
class SignalSettings:
    #: Share of operating hours a controller must be online for a real-time day.
    online_share: float = field(default=0.9, metadata=_check(_share))
    #: Share of operating hours that must be in a real-time mode.
    realtime_mode_share: float = field(default=0.8, metadata=_check(_share))
    operating_start: str = "06:00"
    operating_end: str = "22:00"
    #: Coefficient of variation of cycle lengths above which timing counts as responding.
    min_cycle_cv: float = field(default=0.02, metadata=_check(_non_negative))
    #: Share of days a camera must report to count.
    camera_report_share: float = field(default=0.9, metadata=_check(_share))
    #: Share of a period's in-service days an intersection must be real-time to count in the ratio.
    realtime_day_share: float = field(default=0.9, metadata=_check(_share))
    #: A controller counts as online only this long after its last status message.
    status_stale_s: float = field(default=300.0, metadata=_check(_positive))
    #: Indiana event logs: events at most this far apart show the controller online in between.
    event_gap_s: float = field(default=300.0, metadata=_check(_positive))
    #: Cycles needed in a day before the spread of their lengths is taken as evidence.
    min_cycles: int = field(default=10, metadata=_check(_positive))
    #: Plan changes in operating hours that show timing changed with demand.
    min_plan_changes: int = field(default=2, metadata=_check(_positive))
    #: A daily capture count below this means the camera did not work that day.
    camera_min_captures: int = field(default=1, metadata=_check(_non_negative))
    #: True: an intersection is covered only when every camera of it counts; False: any one.
    epolice_all_cameras: bool = True


@dataclass(frozen=True, slots=True)
class ReportSettings:
    #: Share of a line's scheduled trips that must have had real-time predictions served.
    realtime_trip_share: float = field(default=0.9, metadata=_check(_share))
    #: Share of the period a board must have been online.
    board_online_share: float = field(default=0.9, metadata=_check(_share))
    #: Path to a GeoJSON Polygon/MultiPolygon (or a file of "lon,lat" lines) bounding the urban area.
    urban_boundary: str | None = None
    #: Read-only token for the indicator reports (officials); the admin token is accepted too.
    token: str | None = None
    #: Serve the reports without any token (a closed network, or published figures).
    public: bool = False


_FARE_CHANNELS = ("tunion_card", "local_card", "unionpay_nfc", "unionpay_qr", "alipay", "wechat", "mot_qr",
                  "cash", "free_pass")


def _fare_channels(value: tuple[str, ...]) -> str | None:
    unknown = [c for c in value if c not in _FARE_CHANNELS]
    return f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(_FARE_CHANNELS)}" if unknown else None


@dataclass(frozen=True, slots=True)
class FareSettings:
    #: Channels whose boardings count as electronic payment (indicator 8); cash and free passes do not.
    electronic_channels: tuple[str, ...] = field(default=_FARE_CHANNELS[:7], metadata=_check(_fare_channels))
    #: A transaction above this amount is refused as a bad value.
    max_amount_fen: int = field(default=10_000, metadata=_check(_positive))
    #: A transaction time further in the future than this is refused.
    max_future_s: float = field(default=3600.0, metadata=_check(_non_negative))


@dataclass(frozen=True, slots=True)
class MqttSettings:
    #: ``mqtt://user:pass@host:1883``; unset turns MQTT push off.
    url: str | None = None
    #: Frames published per second at most, across all boards.
    max_frames_per_s: float = field(default=2000.0, metadata=_check(_positive))


@dataclass(frozen=True, slots=True)
class Settings:
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("transit-data")
    log_level: str = "INFO"
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    ingest: IngestSettings = IngestSettings()
    admin: AdminSettings = AdminSettings()
    jt808: Jt808Settings = Jt808Settings()
    tracking: TrackingSettings = TrackingSettings()
    api: ApiSettings = ApiSettings()
    boards: BoardSettings = BoardSettings()
    signals: SignalSettings = SignalSettings()
    reports: ReportSettings = ReportSettings()
    fares: FareSettings = FareSettings()
    mqtt: MqttSettings = MqttSettings()

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with dotted keys changed: ``replace(**{"http.port": 0})``."""
        raw = _to_raw(self)
        for dotted, value in changes.items():
            section, _, key = dotted.rpartition(".")
            target = raw.setdefault(section, {}) if section else raw
            target[key] = value
        return _from_raw(raw, origin="override")

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, for logs and the admin page."""
        raw = _to_raw(self)
        for section in raw.values():
            if isinstance(section, dict):
                for key in section:
                    if key in ("token", "url") and section[key]:
                        section[key] = "***" if key == "token" else _mask_url(str(section[key]))
        return raw


def _mask_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


_SECTIONS: dict[str, type] = {
    f.name: f.type if isinstance(f.type, type) else globals()[str(f.type)]
    for f in dataclasses.fields(Settings)
    if str(f.type).endswith("Settings")
}
_TOP_LEVEL = [f for f in dataclasses.fields(Settings) if f.name not in _SECTIONS]


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def _coerce(key: str, tp: Any, value: Any) -> Any:
    """Turn a TOML or environment value into ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None or value == "":
            return None
        inner = next(a for a in args if a is not type(None))
        return _coerce(key, inner, value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ConfigError(key, f"expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(key, f"expected an integer, got {value!r}")
        try:
            return int(str(value).strip())
        except ValueError:
            raise ConfigError(key, f"expected an integer, got {value!r}") from None
    if tp is float:
        try:
            return float(str(value).strip())
        except ValueError:
            raise ConfigError(key, f"expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, str | int | float):
            raise ConfigError(key, f"expected a string, got {value!r}")
        return str(value)
    if tp is Path:
        return Path(str(value)).expanduser()
    if origin is tuple:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ConfigError(key, f"expected a JSON list: {exc}") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(key, f"expected a list, got {value!r}")
        inner = args[0] if args else str
        if typing.get_origin(inner) in (Mapping, dict) or inner is dict:
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise ConfigError(f"{key}[{i}]", f"expected a table, got {item!r}")
            return tuple(dict(item) for item in value)
        return tuple(_coerce(f"{key}[{i}]", inner, item) for i, item in enumerate(value))
    raise ConfigError(key, f"unsupported setting type {tp!r}")  # pragma: no cover


def _validate_field(key: str, f: dataclasses.Field[Any], value: Any) -> None:
    check = f.metadata.get("check")
    if check is not None and value is not None:
        problem = check(value)
        if problem:
            raise ConfigError(key, f"{problem} (got {value!r})")


def _env_name(section: str | None, name: str) -> str:
    return ENV_PREFIX + (f"{section}_{name}" if section else name).upper()


def _from_raw(raw: Mapping[str, Any], origin: str) -> Settings:
    top: dict[str, Any] = {}
    for f in _TOP_LEVEL:
        if f.name in raw:
            key = f"{f.name} ({_env_name(None, f.name)})"
            value = _coerce(key, _field_type(Settings, f.name), raw[f.name])
            _validate_field(key, f, value)
            top[f.name] = value
    for section, cls in _SECTIONS.items():
        values = raw.get(section) or {}
        if not isinstance(values, Mapping):
            raise ConfigError(section, f"expected a table of settings, got {values!r}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name in values:
                key = f"{section}.{f.name} ({_env_name(section, f.name)})"
                value = _coerce(key, _field_type(cls, f.name), values[f.name])
                _validate_field(key, f, value)
                kwargs[f.name] = value
        top[section] = cls(**kwargs)
    settings = Settings(**top)
    _cross_checks(settings)
    return settings


def _cross_checks(s: Settings) -> None:
    try:
        zoneinfo.ZoneInfo(s.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"unknown time zone {s.timezone!r}") from None
    if s.database.pool_min > s.database.pool_max:
        raise ConfigError("database.pool_min", "must not exceed database.pool_max")
    if s.database.url is not None and not s.database.url.startswith(("postgres://", "postgresql://")):
        raise ConfigError("database.url", "must be a postgresql:// URL")
    if s.mqtt.url is not None and not s.mqtt.url.startswith(("mqtt://", "mqtts://")):
        raise ConfigError("mqtt.url", "must be an mqtt:// or mqtts:// URL")
    if s.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError("log_level", "must be DEBUG, INFO, WARNING or ERROR")
    for key in ("operating_start", "operating_end"):
        text = getattr(s.signals, key)
        parts = text.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or not (
            0 <= int(parts[0]) <= 24 and 0 <= int(parts[1]) < 60
        ):
            raise ConfigError(f"signals.{key}", f"expected HH:MM, got {text!r}")
    for i, feed in enumerate(s.ingest.gtfs_rt_feeds):
        key = f"ingest.gtfs_rt_feeds[{i}]"
        if not str(feed.get("url", "")).startswith(("http://", "https://")):
            raise ConfigError(key, "needs a url starting with http:// or https://")
        interval = feed.get("interval_s", 15)
        if not isinstance(interval, int | float) or interval <= 0:
            raise ConfigError(key, f"interval_s must be a positive number, got {interval!r}")


def _to_raw(s: Settings) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for f in _TOP_LEVEL:
        raw[f.name] = getattr(s, f.name)
    for section in _SECTIONS:
        raw[section] = {k: v for k, v in dataclasses.asdict(getattr(s, section)).items()}
    return raw


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config file", f"{path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config file", f"{path} is not valid TOML: {exc}") from None


def _warn_unknown(raw: Mapping[str, Any], origin: str) -> list[str]:
    unknown = []
    top_names = {f.name for f in _TOP_LEVEL}
    for key, value in raw.items():
        if key in _SECTIONS:
            names = {f.name for f in dataclasses.fields(_SECTIONS[key])}
            unknown += [f"{key}.{k}" for k in value if k not in names]
        elif key not in top_names:
            unknown.append(key)
    for key in unknown:
        log.warning("unknown setting %s in %s ignored", key, origin)
    return unknown


def _env_raw(environ: Mapping[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    known: set[str] = {"TRANSIT_CONFIG", "TRANSIT_TEST_DATABASE_URL"}
    for f in _TOP_LEVEL:
        name = _env_name(None, f.name)
        known.add(name)
        if name in environ:
            raw[f.name] = environ[name]
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = _env_name(section, f.name)
            known.add(name)
            if name in environ:
                raw.setdefault(section, {})[f.name] = environ[name]
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in known:
            log.warning("unknown environment variable %s ignored", name)
    return raw


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from the TOML file, the environment and ``overrides`` (dotted keys).

    ``config_file`` defaults to ``$TRANSIT_CONFIG`` when set.  Raises :class:`ConfigError`.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    path = config_file or (Path(environ["TRANSIT_CONFIG"]) if environ.get("TRANSIT_CONFIG") else None)
    if path is not None:
        file_raw = _read_toml(path)
        _warn_unknown(file_raw, str(path))
        raw = _merge(raw, file_raw)
    raw = _merge(raw, _env_raw(environ))
    nested: dict[str, Any] = {}
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.rpartition(".")
        if section:
            nested.setdefault(section, {})[key] = value
        else:
            nested[key] = value
    raw = _merge(raw, nested)
    return _from_raw(raw, origin="settings")


def describe_settings() -> list[tuple[str, str, Any]]:
    """(environment variable, TOML key, default) for every setting, for ``transit config``."""
    rows: list[tuple[str, str, Any]] = []
    defaults = Settings()
    for f in _TOP_LEVEL:
        rows.append((_env_name(None, f.name), f.name, getattr(defaults, f.name)))
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            rows.append(
                (_env_name(section, f.name), f"{section}.{f.name}", getattr(getattr(defaults, section), f.name))
            )
    return rows
