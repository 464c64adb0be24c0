"""Inference at fitted parameters: standard errors, tests, intervals, goodness of fit."""
