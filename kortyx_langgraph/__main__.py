"""``python -m kortyx_langgraph``: see :mod:`kortyx_langgraph.cli`."""

from kortyx_langgraph.cli import main

raise SystemExit(main())
