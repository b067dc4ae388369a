"""Numbers JSON can carry: a quantity sent as `1e999` parses as infinity, which no JSON
reader downstream can read back, so it is refused where it comes in.

Events stored before this check existed load unchanged (validated with `STORED`).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

__all__ = ["Finite"]


def _finite(value: Any, info: ValidationInfo) -> Any:
    if info.context and info.context.get("stored"):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    return value


Finite = Annotated[float, AfterValidator(_finite)]
"""A float that is a number (not infinity, not NaN), unless read back from the store."""
