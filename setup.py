from configparser import ConfigParser
import setuptools, shlex
from pathlib import Path

# note: all settings are in settings.ini; edit there, not here
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

# PEP 639: the licence is an SPDX expression (license classifiers are deprecated in setuptools >= 77)
licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT'}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
    '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
if cfg.get('pip_requirements'): requirements += shlex.split(cfg.get('pip_requirements', ''))
min_python = cfg['min_python']
lic = licenses.get(cfg['license'].lower(), cfg['license'])
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))

setuptools.setup(
    name = cfg['lib_name'],
    license = lic,
    license_files = ['LICENSE'],
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]],
    url = cfg['git_url'],
    # steerattn.assets holds data only (no __init__.py); listing it and its importable-looking folders (e.g. assets/organism)
    # keeps setuptools from warning that they are missing
    packages = setuptools.find_packages() + [f"{cfg['lib_name']}.assets"] + [f"{cfg['lib_name']}.assets.{d.name}" for d in
               sorted(Path(cfg['lib_name'], 'assets').iterdir()) if d.is_dir() and d.name.isidentifier()],
    include_package_data = True,
    package_data = {cfg['lib_name']: ['assets/*', 'assets/**/*']},
    install_requires = requirements,
    extras_require={ 'dev': dev_requirements },
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {
        'console_scripts': cfg.get('console_scripts','').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
