# Copyright 2026 imitation_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Where the package's files are: the source tree when run from it, else its ament share."""

from __future__ import annotations

from pathlib import Path


def share_dir() -> Path:
    """Return the folder holding config/, models/ and urdf/: the source tree or the share."""
    source = Path(__file__).resolve().parents[2]
    if (source / 'config').is_dir() and (source / 'package.xml').exists():
        return source
    try:
        # lazy: optional, and needed only outside the source tree
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory('imitation_ros'))
    except (ImportError, LookupError, ValueError, OSError):
        return source
