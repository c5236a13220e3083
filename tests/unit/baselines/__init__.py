import pytest

# the shared checks live outside the test modules: let pytest explain their failures too
pytest.register_assert_rewrite("tests.unit.baselines.asserts")
