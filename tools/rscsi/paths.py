# SPDX-License-Identifier: GPL-2.0
"""Where things are: the repository, and the cache that holds everything built or fetched."""

import os

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("RSCSI_CACHE", os.path.expanduser("~/.cache/rscsi"))
