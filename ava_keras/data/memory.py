"""How much memory this process may still use, for choosing between holding images in memory and streaming."""

import os

# Decoded images are held in memory by default only when they take at most
# this share of the available memory: the rest is for TensorFlow, the model
# and everything else running on the machine.
MEMORY_SHARE = 0.5


def available_memory():
    """Returns the bytes of memory this process can still allocate, or None when unknown.

    The smaller of the system's available memory (Linux `MemAvailable`,
    which counts reclaimable page cache) and what is left under a cgroup
    (container) memory limit.
    """
    candidates = [_meminfo_available(), _cgroup_available()]
    known = [value for value in candidates if value is not None]
    if known:
        return min(known)
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fits_in_memory(num_bytes, available=None):
    """Whether `num_bytes` of decoded images fit comfortably in memory.

    Args:
        num_bytes: Size of the decoded data.
        available: Bytes available; `None` measures it with `available_memory()`.
            (Tests pass a number to force either answer.)

    Returns:
        True when `num_bytes <= MEMORY_SHARE * available`, or when the
        available memory is unknown.
    """
    available = available_memory() if available is None else available
    return available is None or num_bytes <= MEMORY_SHARE * available


def _meminfo_available():
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available():
    try:
        with open("/sys/fs/cgroup/memory.max") as file:
            limit = file.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as file:
            return max(0, int(limit) - int(file.read().strip()))
    except (OSError, ValueError):
        return None
