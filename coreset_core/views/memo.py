"""A small memo of view data per `Session` (thumbnails, box statistics, strips).

The Session memoises what the library computes; views derived for display only (PNG
thumbnails, per-class statistics) are kept here, next to the Session they came from and
dropped with it (weak references), bounded per session.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Hashable

_MEMOS: "weakref.WeakKeyDictionary[Any, OrderedDict]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
MAX_ENTRIES = 512


def memoised(session: Any, key: Hashable, compute: Callable[[], Any], max_entries: int = MAX_ENTRIES) -> Any:
    """`compute()` once per `(session, key)`; the least recently used entries beyond `max_entries` go."""
    with _LOCK:
        memo = _MEMOS.setdefault(session, OrderedDict())
        if key in memo:
            memo.move_to_end(key)
            return memo[key]
    value = compute()
    with _LOCK:
        memo[key] = value
        while len(memo) > max_entries:
            memo.popitem(last=False)
    return value
