import pytest
from tests.nn.generate.fakes import HashEncoder, tiny_generator

from voxforge.nn.generate.generator import TextToShape


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture(name="tiny_generator")
def tiny_generator_fixture(hash_encoder: HashEncoder) -> TextToShape:
    return tiny_generator(hash_encoder)
