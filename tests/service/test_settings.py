from pathlib import Path

import pytest

from voxforge.core.errors import ConfigError
from voxforge.service.settings import MIB, ServiceSettings


def test_from_env_reads_variables_and_flags_win(tmp_path):
    env = {
        "VOXFORGE_DATA_DIR": str(tmp_path / "env"),
        "VOXFORGE_MAX_UPLOAD_MB": "1.5",
        "VOXFORGE_JOBS_PER_MINUTE": "7",
        "VOXFORGE_WORKERS": "3",
        "VOXFORGE_RUNNER": "thread",
        "VOXFORGE_DATABASE_URL": "",
    }
    s = ServiceSettings.from_env(env, data_dir=tmp_path / "flag", workers=None)
    assert s.data_dir == tmp_path / "flag"
    assert s.max_upload_bytes == int(1.5 * MIB)
    assert (s.jobs_per_minute, s.workers, s.runner) == (7, 3, "thread")
    assert s.database_url is None
    assert s.db_url == f"sqlite:///{(tmp_path / 'flag' / 'voxforge.db').resolve()}"


def test_defaults_and_explicit_database_url():
    s = ServiceSettings.from_env({})
    assert s.data_dir == Path("voxforge-data") and s.runner == "process" and s.workers == 2
    assert s.max_upload_bytes == 256 * MIB
    url = "postgresql+psycopg://u:p@db/vf"
    assert ServiceSettings.from_env({"VOXFORGE_DATABASE_URL": url}).db_url == url


@pytest.mark.parametrize(
    ("env", "expect"),
    [
        ({"VOXFORGE_MAX_UPLOAD_MB": "lots"}, "VOXFORGE_MAX_UPLOAD_MB='lots': expected a number"),
        ({"VOXFORGE_WORKERS": "0"}, "workers: Input should be greater than or equal to 1"),
        ({"VOXFORGE_RUNNER": "celery"}, "runner: Input should be 'process', 'thread' or 'ray'"),
    ],
)
def test_bad_values_name_the_variable_or_field(env, expect):
    with pytest.raises(ConfigError) as err:
        ServiceSettings.from_env(env)
    assert expect in str(err.value)
