"""A reproducible study of neural-network classifiers on MNIST and Fashion-MNIST."""
