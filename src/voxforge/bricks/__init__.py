"""Bricks: parts catalogue, LEGO colours, layout, physics, LDraw and bills of materials."""
