"""Task plugins, registered by name."""
from __future__ import annotations

from harness.task_api import Task


def task_registry() -> dict[str, Task]:
    from tasks.cifar100_mtl import Cifar100MultiTask
    from tasks.face_age_gender import AdienceAgeGender, FaceAgeGender

    tasks: list[Task] = [Cifar100MultiTask(), FaceAgeGender(), AdienceAgeGender()]
    return {task.name: task for task in tasks}
