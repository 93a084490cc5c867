"""mkdocs hooks of the documentation site (``hooks:`` in mkdocs.yml).

The package's docstrings name other objects the Sphinx way (``:class:`~pkg.mod.Name```),
which Markdown renders as the role's text followed by the code. This shows just the code,
with a leading ``~`` meaning "only the last dotted part", as Sphinx does.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|data|mod|attr|exc|obj):<code>(~?)([^<]*)</code>")


def _code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if short else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    """Turn ``:role:`target``` left in rendered docstrings into plain code."""
    return _ROLE.sub(_code, html)
