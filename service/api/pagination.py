"""Page-number pagination: ``?page=&per_page=``, a ``pagination`` body block, ``X-Pagination`` and ``Link``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from flask import request


def paginate(items: list[Any], total: int, page: int, per_page: int) -> tuple[dict[str, Any], dict[str, str]]:
    """The body ``{"items", "pagination"}`` and the headers that describe the same page."""
    total_pages = max(1, -(-total // per_page))
    meta = {"page": page, "per_page": per_page, "total": total, "total_pages": total_pages}
    links = []
    for rel, target in (("first", 1), ("prev", page - 1), ("next", page + 1), ("last", total_pages)):
        if 1 <= target <= total_pages and not (rel in ("prev", "next") and target == page):
            args = {k: v for k, v in request.args.items() if k != "page"}
            args.update(page=str(target), per_page=str(per_page))
            links.append(f'<{request.base_url}?{urlencode(args)}>; rel="{rel}"')
    headers = {"X-Pagination": json.dumps(meta)}
    if links:
        headers["Link"] = ", ".join(links)
    return {"items": items, "pagination": meta}, headers
