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

"""
Test helper: log what each distributed training worker writes (loaded as sitecustomize).

With this folder on PYTHONPATH and IMITATION_ROS_TEST_AUDIT_DIR set, every
process that torchrun started (RANK in its environment) appends one line per
file it opens for writing, renames, removes or creates to
``rank<RANK>-<pid>.log`` in that folder (Python's audit hooks: what Python
code does, which is where the project's file writes are).
"""

import os
import sys

_DIR = os.environ.get('IMITATION_ROS_TEST_AUDIT_DIR')
_CHANGES = ('os.rename', 'os.replace', 'os.remove', 'os.mkdir', 'os.rmdir', 'os.link',
            'os.truncate', 'shutil.rmtree', 'shutil.move')
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def _install(folder: str, rank: str) -> None:
    """Open the log (before the hook: its own open is not logged) and add the hook."""
    fd = os.open(os.path.join(folder, f'rank{rank}-{os.getpid()}.log'),
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def hook(event: str, args: tuple) -> None:
        if event == 'open':
            path, mode, flags = args
            if isinstance(mode, str):
                writes = any(c in mode for c in 'wax+')
            else:
                writes = isinstance(flags, int) and bool(flags & _WRITE_FLAGS)
        elif event in _CHANGES:
            path, writes = args[0], True
        else:
            return
        if writes:
            os.write(fd, f'{event} {path}\n'.encode())

    sys.addaudithook(hook)


if _DIR and 'RANK' in os.environ:
    _install(_DIR, os.environ['RANK'])
