"""`python -m syncd` is the same program as the `syncd` console script."""

from syncd.cli import main

raise SystemExit(main())
