from __future__ import annotations

import sys
from pathlib import Path

# Tests import the shared helpers module next to them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
