"""What the repair passes changed, collected for the layout report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RepairLog:
    """What the repair passes changed.

    Attributes:
        bridged_layers: plate levels re-laid to join components.
        support_parts: number of parts added under floating components or weak parts.
        support_columns: (x, y, z0, z1) of each support column (cells ``z0 <= z < z1``).
        relaid_parts: parts taken out and re-laid by the stability rounds (kept re-lays only).
        rounds: stability re-lay rounds run.
        stability_supports: support columns added because the physics said the model fails.
        recoloured: (x, y, z) cells that took a neighbour's colour so that one plate joins two
            pieces.
        stable: the last stability verdict, None when no physics callable was given.
        margin: the last report's margin (``1 - max_stress``), None without physics.
        margin_reached: the last report stands with at least the target margin (None without
            physics).
        notes: human-readable reasons when something could not be repaired.
    """

    bridged_layers: list[int] = field(default_factory=list)
    support_parts: int = 0
    support_columns: list[tuple[int, int, int, int]] = field(default_factory=list)
    relaid_parts: int = 0
    rounds: int = 0
    stability_supports: int = 0
    recoloured: list[tuple[int, int, int]] = field(default_factory=list)
    stable: bool | None = None
    margin: float | None = None
    margin_reached: bool | None = None
    notes: list[str] = field(default_factory=list)
