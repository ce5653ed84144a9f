"""What a server process keeps for its whole life, out of the garbage collector's way.

A full collection (generation 2) walks every object the collector tracks: in a started server that is
150,000 or more objects of Django, the URL and model registries, the feed and its libraries, and on
the 2-core machine it took 40 to 60 ms, paid by whatever was running at that moment: a tick, a page,
the bar recorder's minute flush. Those objects are never garbage. ``freeze_startup_objects()``
(``gc.freeze()``), called once the feed has started, moves them to the permanent generation: later
collections walk only what the process made since.
"""

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_startup_objects() -> bool:
    """Freeze what the process holds now, once per process. Returns whether this call did it."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect()  # what is garbage already is collected, not kept forever
        gc.freeze()
        _frozen = True
        return True


def frozen() -> bool:
    """Whether this process has frozen its start-up objects."""
    return _frozen
