"""Analyses of trained models: test metrics, generalization, interpretability, label quality, few labels."""
