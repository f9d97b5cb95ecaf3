"""3D Gaussian fitting: Gaussians, a sparse differentiable rasterizer, cameras, ground truth, SSIM, the job."""
