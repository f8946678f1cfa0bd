"""LEGO colours: the LDraw colour table (``palette``), nearest-colour matching (``match``), a
user's inventory (``inventory``) and colour assignment for a grid (``assign``).

The colour science (sRGB transfer curve, CIELAB, Oklab, CIEDE2000) lives in
:mod:`voxforge.core.color`.
"""
