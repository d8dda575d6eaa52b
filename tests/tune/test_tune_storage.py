"""Storage URLs: the documented forms open, anything else gets one line (lensfind.tune.storage)."""
from __future__ import annotations

import importlib.util
import sqlite3

import pytest

from lensfind.cli import main
from lensfind.tune.storage import URL_FORMS, check_storage_url, open_storage
from lensfind.validation import ConfigError


@pytest.mark.parametrize("url, message", [
    ("runs/x/study.db", "storage = 'runs/x/study.db' is invalid: expected a database URL: "),
    ("nosuchdb://host/db", "storage = 'nosuchdb://host/db' is invalid (Can't load plugin: "
                           "sqlalchemy.dialects:nosuchdb): expected a database URL: "),
])
def test_what_is_not_a_database_url_is_refused_listing_the_forms(url, message):
    with pytest.raises(ConfigError) as err:
        check_storage_url(url)
    assert str(err.value) == message + URL_FORMS


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    text = tmp_path / "README.md"
    text.write_text("# notes\n")
    with pytest.raises(ConfigError, match=f"{text} is not an SQLite database \\(it starts with "
                                          "b'# notes\\\\n'\\); expected sqlite:///"):
        open_storage(f"sqlite:///{text}")
    with sqlite3.connect(tmp_path / "ok.db") as con:
        con.execute("CREATE TABLE t (a)")
    assert check_storage_url(f"sqlite:///{tmp_path / 'ok.db'}")
    assert check_storage_url(f"sqlite:///{tmp_path / 'new.db'}")  # a new study database


@pytest.mark.skipif(importlib.util.find_spec("pymysql") is not None,
                    reason="pymysql is installed: no missing driver to show")
def test_a_missing_driver_names_the_package_to_install():
    with pytest.raises(ConfigError, match="storage = 'mysql\\+pymysql://u:\\*\\*\\*@h/db' needs "
                                          "the database driver 'pymysql', which is not "
                                          "installed: pip install pymysql"):
        check_storage_url("mysql+pymysql://u:secret@h/db")


def test_the_documented_postgresql_form_has_its_driver_and_an_unreachable_server_is_one_line(
        capsys):
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    url = "postgresql://nobody@127.0.0.1:1/x"  # port 1: nothing listens
    assert check_storage_url(url) == url
    assert main(["dashboard", "--storage", url, "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("lensfind dashboard: error: storage = "
                          "'postgresql://nobody@127.0.0.1:1/x': cannot open the database (")
    assert "Connection refused" in err
