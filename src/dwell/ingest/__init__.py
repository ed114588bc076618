"""Reading event files and the upload pipeline (read, validate, pair, store)."""

import os

import pyarrow as pa

# Arrow's buffers come from the C library's allocator unless ARROW_DEFAULT_MEMORY_POOL says
# otherwise: freed pages go back at once. Arrow's own default (mimalloc) held 20-55 MB more
# at the peak of a 1.5 M-event load, and was no faster.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    pa.set_memory_pool(pa.system_memory_pool())
