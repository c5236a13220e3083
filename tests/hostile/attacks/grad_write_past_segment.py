"""Attack: resize the shared segment (a shrunk segment would make the trainer's next access
a SIGBUS), then write past the end of its mapping with ctypes (torch's own views are
bounds-checked)."""

import ctypes
import os


class GradientCombiner:
    def combine(self, grads, losses, epoch, total_epochs, step):
        if step == 1:
            found = False
            for fd in range(3, 64):
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                if not target.startswith("/memfd:"):
                    continue
                found = True
                for size in (0, 2 * os.fstat(fd).st_size):
                    try:
                        os.ftruncate(fd, size)
                    except OSError:
                        continue
                    raise RuntimeError("ATTACK SUCCEEDED: the gradient segment was resized")
            if not found:
                raise RuntimeError("NO MEMFD: the attack found no segment to resize")
            maps = []
            with open("/proc/self/maps") as listing:
                for line in listing:
                    low, high = (int(x, 16) for x in line.split()[0].split("-"))
                    maps.append((low, high, line))
            (end,) = [high for low, high, line in maps if "mtl-gradients" in line]
            while any(low <= end < high for low, high, _ in maps):  # the first unmapped byte after it
                end = next(high for low, high, _ in maps if low <= end < high)
            ctypes.memset(end, 1, 8)  # past the segment: the oracle itself faults
        return grads.sum(0)
