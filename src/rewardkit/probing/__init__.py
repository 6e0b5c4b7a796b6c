"""Linear probes on frozen backbone features: the feature cache, probe fitting, export as a reward model."""
