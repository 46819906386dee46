from pathlib import Path

import pytest

from transit.settings import ConfigError, Settings, load_settings


def test_defaults_match_the_documented_ones() -> None:
    s = load_settings(environ={})
    assert s.http.port == 8080
    assert s.jt808.port == 6808
    assert s.timezone == "Asia/Shanghai"
    assert s.database.url is None
    assert s.data_dir == Path("transit-data")


def test_environment_overrides_file_and_options_override_environment(tmp_path: Path) -> None:
    config = tmp_path / "transit.toml"
    config.write_text('[http]\nport = 9000\nhost = "0.0.0.0"\n[ingest]\ntoken = "from-file"\n')
    s = load_settings(environ={"TRANSIT_HTTP_PORT": "9100"}, config_file=config)
    assert (s.http.port, s.http.host, s.ingest.token) == (9100, "0.0.0.0", "from-file")
    s = load_settings(environ={"TRANSIT_HTTP_PORT": "9100"}, config_file=config, overrides={"http.port": 9200})
    assert s.http.port == 9200


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"TRANSIT_HTTP_PORT": "eighty"}, "TRANSIT_HTTP_PORT"),
        ({"TRANSIT_HTTP_PORT": "70000"}, "TRANSIT_HTTP_PORT"),
        ({"TRANSIT_JT808_PORT": "-1"}, "TRANSIT_JT808_PORT"),
        ({"TRANSIT_TIMEZONE": "Asia/Zhangqiu"}, "timezone"),
        ({"TRANSIT_DATABASE_URL": "mysql://x"}, "database.url"),
        ({"TRANSIT_SIGNALS_ONLINE_SHARE": "1.5"}, "TRANSIT_SIGNALS_ONLINE_SHARE"),
    ],
)
def test_a_wrong_value_names_its_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=environ)
    assert key in str(info.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[http\nport = 1")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(environ={}, config_file=config)


def test_settings_are_frozen_and_secrets_redacted() -> None:
    s = load_settings(environ={"TRANSIT_ADMIN_TOKEN": "s3cret",
                               "TRANSIT_DATABASE_URL": "postgresql://u:pw@db/transit"})
    with pytest.raises(AttributeError):
        s.http.port = 1  # type: ignore[misc]
    shown = str(s.redacted())
    assert "s3cret" not in shown and "pw" not in shown


def test_unknown_keys_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = tmp_path / "transit.toml"
    config.write_text("[http]\nprot = 1\n")
    assert isinstance(load_settings(environ={"TRANSIT_HTTP_PROT": "1"}, config_file=config), Settings)
    assert "http.prot" in caplog.text and "TRANSIT_HTTP_PROT" in caplog.text
