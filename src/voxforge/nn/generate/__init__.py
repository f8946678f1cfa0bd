"""Text to 3D shape: captions measured on voxels, a voxel VAE with a text-conditioned latent
denoiser, the generate job's model and its evaluation."""
