"""The neural SDF fit: signed distance to the part, training points, the network, its training step,
the job (alone or in a group), reconstruction by marching cubes and surface metrics (torch)."""
