"""The learning core: datasets, model builders, augmentation, training, inference; it imports nothing else here."""
