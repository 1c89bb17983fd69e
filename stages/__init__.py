"""DVC stage scripts: ``python -m stages.<name>``, one per stage in dvc.yaml.

They import ``ru_selfalign`` from this checkout's ``src/``, ahead of wherever the package is installed: queued DVC
experiments (``dvc exp run --queue``) run in a temporary copy of the repository, and an editable install would hand
them the workspace's code, edited or not, instead of the copy's.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
