"""Package setup for imitation_ros (ament_python; also pip-installable for the no-ROS path)."""

from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'imitation_ros'


def _files(pattern: str) -> list:
    return [f for f in glob(pattern) if os.path.isfile(f)]


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    package_data={'imitation_ros.sim.panda': ['assets/*.xml', 'assets/*.md']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', _files('launch/*.py')),
        ('share/' + package_name + '/config', _files('config/*.yaml')),
        ('share/' + package_name + '/models', _files('models/*.onnx') + _files('models/*.md')
         + _files('models/*.json')),
        ('share/' + package_name + '/urdf', _files('urdf/*')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='imitation_ros maintainers',
    maintainer_email='maintainers@imitation-ros.dev',
    description='Imitation learning (BC, DAgger, HG-DAgger) for ROS 2 robot arms.',
    license='Apache-2.0',
    python_requires='>=3.10',
    extras_require={'test': ['pytest']},
    entry_points={
        'console_scripts': [
            'sim_arm = imitation_ros.nodes.sim_arm:main',
            'policy_node = imitation_ros.nodes.policy_node:main',
            'trainer = imitation_ros.nodes.trainer:main',
            'intervention_gate = imitation_ros.nodes.intervention_gate:main',
            'recorder = imitation_ros.nodes.recorder:main',
            'sim_human = imitation_ros.nodes.sim_human:main',
            'fleet_operator = imitation_ros.nodes.fleet_operator:main',
            'expert_labeler = imitation_ros.nodes.expert_labeler:main',
            'imitation-ros = imitation_ros.cli.main:main',
        ],
    },
)
