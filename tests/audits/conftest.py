import pytest

from audits.checkpoints.keys import key_pair_generate


@pytest.fixture
def checkpoint_key(settings, tmp_path):
    """A signing key and an empty checkpoint folder of the test's own; the public key's path."""
    settings.QMS_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.QMS_CHECKPOINT_KEY = tmp_path / "keys" / "checkpoint.pem"
    settings.QMS_CHECKPOINT_KEY.parent.mkdir()
    _, public = key_pair_generate(path=settings.QMS_CHECKPOINT_KEY)
    return public
