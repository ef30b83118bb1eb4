"""The workflow: running notebooks, fingerprints, reuse of trained runs, pending work, provenance; it knows no study."""
