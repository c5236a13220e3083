"""Independent from-scratch references of the gradient-level baselines, one module each
(`NAME`, `Reference(tasks, seed).step(grads, losses)`), for the cross-check test: written from
the papers and reference code, importing nothing from `baselines/`."""
