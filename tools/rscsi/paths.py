# SPDX-License-Identifier: GPL-2.0
"""Where things are: the repository, and the cache that holds everything built or fetched."""

import hashlib
import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("RSCSI_CACHE", os.path.expanduser("~/.cache/rscsi"))
# What a working tree builds from its own sources is kept apart from another tree's (see
# TREE_KEY in tools/lib.sh): cargo, for one, does not rebuild a test binary that another tree's
# sources of an older date produced.
TREE_KEY = hashlib.sha1(TOP.encode()).hexdigest()[:8]
