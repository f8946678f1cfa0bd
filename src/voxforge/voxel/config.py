"""Options of the voxelize stage (a pydantic model, loadable from YAML)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class VoxelizeConfig(BaseModel):
    """How to turn a point cloud or mesh into a voxel grid.

    Sizing: on the LEGO lattice (8 x 8 x 3.2 mm cells) the object is either scaled uniformly so its
    longest horizontal side spans exactly ``width_studs`` cells (``scale="fit"``), or kept at its
    real size in metres (``scale="real"``; a 10 cm mug becomes about 13 studs wide). The cubic
    lattice (for the neural networks) fits the longest axis of the object into
    ``resolution - 2 * margin`` cells of an isotropic ``resolution``³ grid, centred.
    """

    model_config = ConfigDict(extra="forbid")

    lattice: Literal["lego", "cubic"] = Field(
        "lego", description="'lego': 8 x 8 x 3.2 mm cells; 'cubic': resolution³ isotropic grid."
    )
    width_studs: int | None = Field(
        32,
        ge=1,
        le=100_000,
        description="Longest horizontal side in studs (scale='fit' on the LEGO lattice only).",
    )
    scale: Literal["fit", "real"] = Field(
        "fit", description="'fit': scale to width_studs; 'real': keep metres 1:1 (LEGO lattice only)."
    )
    resolution: int = Field(32, ge=2, le=1024, description="Cells per side of the cubic grid.")
    margin: int = Field(0, ge=0, le=64, description="Empty cells kept on each side (cubic grid).")
    fill: Literal["auto", "solid", "surface"] = Field(
        "auto",
        description="'surface': shell only; 'solid': flood-fill the outside, everything else is "
        "inside; 'auto': 'solid' for watertight meshes, hole closing + enclosed fill otherwise.",
    )
    cell_rule: Literal["touch", "center"] = Field(
        "touch",
        description="Cells a watertight mesh fills with solid fill: 'touch': every cell its surface "
        "touches (exact widths, parts thinner than a cell survive, volume rounded up by about half "
        "a cell per side); 'center': cells whose centre is inside (closest volume, but parts "
        "thinner than a cell may vanish). Clouds and open meshes always use 'touch'.",
    )
    close_iterations: int = Field(
        1,
        ge=0,
        le=32,
        description="Morphological closing steps (3x3x3 element) used to seal small holes of open "
        "meshes and point clouds before filling; bridges gaps up to about 2k cells wide.",
    )
    splat_points: bool = Field(
        True,
        description="For point clouds: each point marks the cells of a box as wide as the measured "
        "point spacing, so a sparse scan enlarged to many studs stays a closed surface.",
    )
    extend_bottom: bool = Field(
        False,
        description="Extend each column of the footprint down to z=0 (partial scans with an open "
        "bottom); overhangs become solid down to the base.",
    )
    hollow: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Keep a shell K studs thick horizontally and 3K plates vertically (K cells on "
        "the cubic grid); None keeps the object solid.",
    )
    max_cells: int = Field(
        4_000_000,
        ge=1,
        description="Largest allowed grid, counted on the bounding grid padded by one cell per side.",
    )
    samples_per_cell: float = Field(
        8.0,
        gt=0.0,
        le=1000.0,
        description="Mesh colour samples per unit of surface area measured in cell faces.",
    )
    seed: int = Field(0, ge=0, description="Seed of the surface sampling (colours of meshes).")

    @model_validator(mode="after")
    def _check_combinations(self) -> VoxelizeConfig:
        if self.lattice == "cubic" and self.scale == "real":
            raise ValueError("scale='real' needs the LEGO lattice; the cubic grid always fits")
        if self.lattice == "cubic" and self.resolution - 2 * self.margin < 1:
            raise ValueError(
                f"margin {self.margin} leaves no cells inside a resolution-{self.resolution} grid"
            )
        if self.lattice == "lego" and self.scale == "fit" and self.width_studs is None:
            raise ValueError("scale='fit' needs width_studs (e.g. 32)")
        if self.scale == "real" and "width_studs" in self.model_fields_set and self.width_studs:
            raise ValueError("width_studs and scale='real' contradict each other; give one")
        return self
