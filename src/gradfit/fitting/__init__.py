"""From parameters to a FitResult: validated parameters, the fit drivers for every source,
partial_fit, checkpoints."""
