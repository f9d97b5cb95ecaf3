"""A guard for a reference-counting fault of PySide6 6.12 on Python < 3.12.

On that combination every call of a Qt method that returns nothing drops one reference to ``None``
(and bool results one to ``True`` or ``False``) without having taken it: the bindings assume Python
3.12's immortal singletons. A window makes such calls
by the thousand per second, so after a few thousand of them Python aborts with "none_dealloc:
deallocating None". Giving these singletons a very large reference count, as Python 3.12 does, makes those drops
harmless. Python 3.12 and newer need nothing.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 60


def keep_none_alive() -> None:
    """Make None, True, False, ... effectively immortal (idempotent; a no-op on Python 3.12+)."""
    if sys.version_info >= (3, 12):
        return
    for obj in (None, True, False, Ellipsis, NotImplemented):
        refcount = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of every object
        if refcount.value < _HEADROOM // 2:
            refcount.value += _HEADROOM
