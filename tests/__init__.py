"""syncd's tests, a package so that shared helpers are imported by name (`from tests.support.world import
World`) rather than loaded by path. pyproject's `pythonpath = ["."]` puts the repository root on sys.path,
which `--import-mode=importlib` does not do by itself."""
