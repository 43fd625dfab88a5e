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
Top-down RGB rendering of the arm, obstacle and goal with OpenCV.

The image is what ``/camera/image_raw`` carries (rgb8) and what image-based
policies see: a small square view of the workspace, base at the left middle,
x to the right, y up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .arm import ArmConfig, forward_kinematics, Task


@dataclass(frozen=True)
class View:
    """The workspace window the camera sees (m) and its size (pixels)."""

    size: int = 96
    """Image width and height (px)."""
    x_range: tuple[float, float] = (-0.3, 2.4)
    """World x shown, left to right edge (m)."""
    y_range: tuple[float, float] = (-1.35, 1.35)
    """World y shown, bottom to top edge (m)."""

    def to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """World points (..., 2) in m to integer pixel coordinates (..., 2) (col, row)."""
        xy = np.asarray(xy, dtype=np.float64)
        sx = (self.size - 1) / (self.x_range[1] - self.x_range[0])
        sy = (self.size - 1) / (self.y_range[1] - self.y_range[0])
        col = (xy[..., 0] - self.x_range[0]) * sx
        row = (self.y_range[1] - xy[..., 1]) * sy
        return np.stack([col, row], axis=-1).round().astype(np.int32)

    def scale(self) -> float:
        """Pixels per metre."""
        return (self.size - 1) / (self.x_range[1] - self.x_range[0])


def render(config: ArmConfig, task: Task, q: np.ndarray, view: View | None = None) -> np.ndarray:
    """
    Render one frame.

    :returns: RGB image, shape (size, size, 3), uint8.
    """
    v = view or View()
    img = np.full((v.size, v.size, 3), 255, dtype=np.uint8)
    scale = v.scale()
    thick = max(1, int(round(v.size / 96)))
    goal = tuple(int(c) for c in v.to_pixels(task.goal))
    cv2.circle(img, goal, max(2, int(round(config.goal_tolerance * scale))), (40, 170, 60), -1,
               lineType=cv2.LINE_AA)
    obstacle = tuple(int(c) for c in v.to_pixels(task.obstacle))
    cv2.circle(img, obstacle, max(1, int(round(task.obstacle_radius * scale))), (200, 50, 40),
               -1, lineType=cv2.LINE_AA)
    points = v.to_pixels(forward_kinematics(config, q))
    link_px = max(1, int(round(2 * config.link_radius * scale)) + thick)
    for a, b in zip(points[:-1], points[1:]):
        cv2.line(img, tuple(int(c) for c in a), tuple(int(c) for c in b), (40, 60, 200), link_px,
                 lineType=cv2.LINE_AA)
    for p in points[:-1]:
        cv2.circle(img, tuple(int(c) for c in p), link_px, (20, 20, 20), -1, lineType=cv2.LINE_AA)
    cv2.circle(img, tuple(int(c) for c in points[-1]), link_px, (230, 160, 20), -1,
               lineType=cv2.LINE_AA)
    return img


def draw_path(img: np.ndarray, ee_path: np.ndarray, color: tuple[int, int, int],
              view: View | None = None, thickness: int = 1) -> np.ndarray:
    """Draw an end effector path (T, 2) in m onto ``img`` in place and return it."""
    v = view or View()
    px = v.to_pixels(ee_path).reshape(-1, 1, 2)
    cv2.polylines(img, [px], False, color, thickness, lineType=cv2.LINE_AA)
    return img
