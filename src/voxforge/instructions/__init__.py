"""Building instructions: step renders, booklets (PDF, HTML, step images).

The package is also the public function :func:`voxforge.instructions` (see
:func:`voxforge.api.instructions`): ``voxforge.instructions(model, "book/")`` calls it. Python
binds a sub-package to its parent's attribute of the same name once it is imported, so the
package itself is made callable rather than letting the function and the package take turns.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`voxforge.api.instructions`."""
        from voxforge.api import instructions

        return instructions(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
