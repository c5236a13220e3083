"""One job from spec to record: the trainer, its checkpoints, seeding, devices, progress."""
