"""Completion of the unseen side of one-sided scans: simulated training scans, a 3D U-Net, a
mirror-symmetry baseline, metrics and the use on real scans."""
