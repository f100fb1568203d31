from setuptools import find_packages, setup


def get_version():
    ns = {}
    with open('mmc2am/version.py') as f:
        exec(f.read(), ns)
    return ns['__version__']


setup(
    name='mmc2am',
    version=get_version(),
    description='Causal Class Activation Maps (C2AM) for weakly-supervised '
    'semantic segmentation, as an OpenMMLab plugin',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks')),
    python_requires='>=3.8',
    install_requires=[
        'mmengine>=0.10.0,<1.0.0',
        'mmcv>=2.0.0,<2.2.0',
        'mmsegmentation>=1.2.0',
        'mmpretrain>=1.2.0',
        'numpy',
    ],
    zip_safe=False,
)
