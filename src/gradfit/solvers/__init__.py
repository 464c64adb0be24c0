"""How the objective is minimised: update rules, schedules, the one training loop, L-BFGS and
conjugate gradients, and the closed form."""
