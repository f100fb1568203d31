"""The config families (issue 22, acceptance 3): every config loads with
mmengine's ``Config.fromfile``; every family folder of ``configs/`` has a
``README.md`` and a ``metafile.yml`` in mmsegmentation's model-index schema
whose rows name existing configs of that folder, one row per config that
users run, with results only from this repository's measurements."""
import copy
import functools
import glob
import os.path as osp
import re
from typing import Any, Dict, List

import pytest
import yaml
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(ROOT, 'configs')
#: the only data this repository has measured on (the metafiles' Results)
GEN_DATA = 'generated VOC (64 px, 8 classes)'
#: configs of a family that are bases of its runnable configs, not run on
#: their own: IRN's network / data / schedule without the method's masks
#: (``label_dir``) and CAM files, which the ``irn_*_<method>.py`` set
NOT_RUN = ('configs/irn/irn_r50_voc.py', 'configs/irn/irn_r18_gen.py')

#: folders of configs/ that are no algorithm: the shared fragments and the
#: pipeline configs of tools/run_pipeline.py (stage lists, not models)
NOT_FAMILIES = ('_base_', 'pipelines', '__pycache__')

FAMILIES = sorted(
    osp.basename(d) for d in glob.glob(osp.join(CONFIGS, '*'))
    if osp.isdir(d) and osp.basename(d) not in NOT_FAMILIES)
FAMILY_CONFIGS = sorted(
    osp.relpath(p, ROOT) for f in FAMILIES
    for p in glob.glob(osp.join(CONFIGS, f, '*.py')))
PIPELINE_CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(CONFIGS, 'pipelines', '*.py')))


@functools.lru_cache(maxsize=None)
def load(rel: str) -> Config:
    """The config at ``rel`` (relative to the repository), loaded once."""
    return Config.fromfile(osp.join(ROOT, rel))


def load_metafile(path: str) -> Any:
    with open(path) as f:
        return yaml.safe_load(f)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(
        isinstance(x, str) and x for x in v)


def check_metafile(data: Any, family: str, root: str = ROOT) -> List[str]:
    """What is wrong with the parsed ``metafile.yml`` of
    ``configs/<family>`` against mmsegmentation's schema (the fields of its
    ``configs/*/metafile.yaml``) and this repository's rules; empty if
    nothing. Paths are relative to ``root``."""
    errors: List[str] = []
    if not isinstance(data, dict) or set(data) != {'Collections', 'Models'}:
        return ['top level must have exactly Collections and Models, got '
                f'{sorted(data) if isinstance(data, dict) else type(data)}']
    colls, models = data['Collections'], data['Models']
    if not isinstance(colls, list) or not colls:
        return ['Collections must be a non-empty list']
    if not isinstance(models, list) or not models:
        return ['Models must be a non-empty list']

    training_data: Dict[str, List[str]] = {}
    collections = {c['Name'] for c in colls
                   if isinstance(c, dict) and isinstance(c.get('Name'), str)}
    for i, c in enumerate(colls):
        where = f'Collections[{i}]'
        if not isinstance(c, dict):
            errors.append(f'{where} is not a mapping')
            continue
        missing = {'Name', 'License', 'Metadata', 'Paper', 'README', 'Code',
                   'Frameworks'} - set(c)
        if missing:
            errors.append(f'{where} lacks {sorted(missing)}')
            continue
        if not isinstance(c['Name'], str) or not c['Name']:
            errors.append(f'{where}.Name must be a string')
            continue
        where = f'collection {c["Name"]!r}'
        if not isinstance(c['License'], str) or not c['License']:
            errors.append(f'{where}: License must be a string')
        meta = c['Metadata']
        if not isinstance(meta, dict) or not _is_str_list(
                meta.get('Training Data')):
            errors.append(f'{where}: Metadata.Training Data must be a list '
                          'of strings')
        else:
            training_data[c['Name']] = meta['Training Data']
        paper = c['Paper']
        if not (isinstance(paper, dict) and isinstance(paper.get('Title'), str)
                and paper['Title'] and isinstance(paper.get('URL'), str)
                and paper['URL'].startswith('https://')):
            errors.append(f'{where}: Paper needs a Title and an https URL')
        if c['README'] != f'configs/{family}/README.md' or not osp.isfile(
                osp.join(root, str(c['README']))):
            errors.append(f'{where}: README must be the existing '
                          f'configs/{family}/README.md, got {c["README"]!r}')
        code = c['Code']
        if not isinstance(code, dict) or not isinstance(
                code.get('URL'), str) or not isinstance(
                    code.get('Version'), str):
            errors.append(f'{where}: Code needs a URL and a Version string')
        else:
            url = code['URL']
            if not (url.startswith('https://')
                    or osp.isfile(osp.join(root, url))):
                errors.append(f'{where}: Code.URL {url!r} is neither an '
                              'https URL nor a file of the repository')
            if not re.fullmatch(r'v\d+\.\d+\.\d+', code['Version']):
                errors.append(f'{where}: Code.Version {code["Version"]!r} '
                              'is not vX.Y.Z')
        if not _is_str_list(c['Frameworks']) or 'PyTorch' not in c[
                'Frameworks']:
            errors.append(f'{where}: Frameworks must list PyTorch')

    for i, m in enumerate(models):
        where = f'Models[{i}]'
        if not isinstance(m, dict):
            errors.append(f'{where} is not a mapping')
            continue
        missing = {'Name', 'In Collection', 'Results', 'Config', 'Metadata',
                   'Weights'} - set(m)
        if missing:
            errors.append(f'{where} lacks {sorted(missing)}')
            continue
        where = f'model {m["Name"]!r}'
        config = m['Config']
        if not isinstance(config, str) or not re.fullmatch(
                rf'configs/{re.escape(family)}/[^/]+\.py', config):
            errors.append(f'{where}: Config {config!r} is not a .py path in '
                          f'configs/{family}/')
        elif not osp.isfile(osp.join(root, config)):
            errors.append(f'{where}: Config {config} does not exist')
        elif m['Name'] != osp.splitext(osp.basename(config))[0]:
            errors.append(f'{where}: Name must be the config\'s stem '
                          f'{osp.splitext(osp.basename(config))[0]!r}')
        if m['In Collection'] not in collections:
            errors.append(f'{where}: In Collection {m["In Collection"]!r} is '
                          f'not a collection of this file '
                          f'({sorted(collections)})')
        results = m['Results']
        if not isinstance(results, list):
            errors.append(f'{where}: Results must be a list (empty where '
                          'nothing was measured)')
            results = []
        for j, r in enumerate(results):
            if not isinstance(r, dict) or set(r) != {
                    'Task', 'Dataset', 'Metrics'}:
                errors.append(f'{where}: Results[{j}] must have exactly '
                              'Task, Dataset and Metrics')
                continue
            if not isinstance(r['Task'], str) or not r['Task']:
                errors.append(f'{where}: Results[{j}].Task must be a string')
            if r['Dataset'] != GEN_DATA:
                errors.append(f'{where}: Results[{j}].Dataset '
                              f'{r["Dataset"]!r}: only {GEN_DATA!r} has been '
                              'measured in this repository')
            metrics = r['Metrics']
            if not isinstance(metrics, dict) or not metrics or not all(
                    isinstance(k, str) and _is_number(v)
                    for k, v in metrics.items()):
                errors.append(f'{where}: Results[{j}].Metrics must map '
                              'names to numbers')
        meta = m['Metadata']
        if not isinstance(meta, dict):
            errors.append(f'{where}: Metadata must be a mapping')
        else:
            if m['In Collection'] in training_data and meta.get(
                    'Training Data') not in training_data[m['In Collection']]:
                errors.append(f'{where}: Metadata.Training Data '
                              f'{meta.get("Training Data")!r} is not one of '
                              'its collection\'s')
            bs = meta.get('Batch Size')
            if not (isinstance(bs, int) and not isinstance(bs, bool)
                    and bs > 0):
                errors.append(f'{where}: Metadata.Batch Size must be a '
                              'positive integer')
            if not _is_str_list(meta.get('Architecture')):
                errors.append(f'{where}: Metadata.Architecture must be a '
                              'list of strings')
        weights = m['Weights']
        if weights is not None and not (isinstance(weights, str)
                                        and weights.startswith('https://')):
            errors.append(f'{where}: Weights must be null or an https URL')

    names = [m.get('Name') for m in models if isinstance(m, dict)]
    errors += [f'model {n!r} is listed twice' for n in sorted(set(names), key=str)
               if names.count(n) > 1]
    return errors


def metafile(family: str) -> Any:
    return load_metafile(osp.join(CONFIGS, family, 'metafile.yml'))


def test_the_families():
    assert {'cam', 'c2am', 'recam', 'advcam', 'conta', 'crf', 'irn',
            'deeplabv3plus'} <= set(FAMILIES)
    assert len(FAMILY_CONFIGS) > 50
    # the README's command stays
    assert 'configs/c2am/voc_r50.py' in FAMILY_CONFIGS


@pytest.mark.parametrize('rel', FAMILY_CONFIGS + PIPELINE_CONFIGS)
def test_config_loads(rel):
    cfg = load(rel)
    if rel in PIPELINE_CONFIGS:
        assert len(cfg.keys()) > 0
        return
    # a model and something to run it: a training or a test loop
    assert 'model' in cfg, rel
    assert cfg.get('train_dataloader') or cfg.get('test_dataloader'), rel


@pytest.mark.parametrize('family', FAMILIES)
def test_family_has_readme_and_metafile(family):
    assert osp.isfile(osp.join(CONFIGS, family, 'README.md'))
    assert osp.isfile(osp.join(CONFIGS, family, 'metafile.yml'))
    with open(osp.join(CONFIGS, family, 'README.md')) as f:
        assert f.readline().startswith('# '), 'a title first'


@pytest.mark.parametrize('family', FAMILIES)
def test_metafile_schema(family):
    assert check_metafile(metafile(family), family) == []


@pytest.mark.parametrize('family', FAMILIES)
def test_metafile_lists_every_config_users_run(family):
    listed = {m['Config'] for m in metafile(family)['Models']}
    in_folder = {c for c in FAMILY_CONFIGS
                 if c.startswith(f'configs/{family}/')}
    assert listed <= in_folder
    assert in_folder - listed == {c for c in NOT_RUN if c in in_folder}


@pytest.mark.parametrize('rel', NOT_RUN)
def test_configs_left_out_of_the_metafiles_cannot_run(rel):
    """The bases left out of the metafiles need a method's config: IRNet
    has no masks to train on and the walk no CAM files to read."""
    if not osp.isfile(osp.join(ROOT, rel)):
        pytest.skip(f'{rel} is gone')
    cfg = load(rel)
    assert cfg.train_dataloader.dataset.label_dir is None
    assert cfg.test_dataloader.dataset.cam_dir is None


@pytest.mark.parametrize('family', FAMILIES)
def test_metafile_metadata_matches_the_configs(family):
    """Batch Size is the config's training or test batch; rows on the
    generated data are configs that read it, the others VOC's."""
    for m in metafile(family)['Models']:
        cfg = load(m['Config'])
        batches = {cfg.get(k, {}).get('batch_size')
                   for k in ('train_dataloader', 'test_dataloader')}
        assert m['Metadata']['Batch Size'] in batches, (m['Name'], batches)
        loader = cfg.get('test_dataloader') or cfg.train_dataloader
        data_root = loader.dataset.data_root
        gen = m['Metadata']['Training Data'] == GEN_DATA
        assert ('gen_voc' in data_root) == gen, (m['Name'], data_root)


@pytest.mark.parametrize('family', FAMILIES)
def test_metafile_numbers_are_in_the_readme(family):
    """Every result of a metafile is a number of its family's README (the
    measured tables), written as the README writes it."""
    with open(osp.join(CONFIGS, family, 'README.md')) as f:
        readme = f.read()
    for m in metafile(family)['Models']:
        for r in m['Results']:
            for name, value in r['Metrics'].items():
                text = f'{value}'
                assert re.search(rf'(?<![\d.]){re.escape(text)}(?!\d)',
                                 readme), (m['Name'], name, text)


def test_model_names_are_unique_across_families():
    names = [m['Name'] for f in FAMILIES for m in metafile(f)['Models']]
    assert len(names) == len(set(names))


# ----------------------------------------------------------------------------
# the checker itself, on broken copies of a real metafile


def _broken(mutate) -> Any:
    data = copy.deepcopy(metafile('cam'))
    mutate(data)
    return data


def test_a_metafile_naming_a_missing_config_fails(tmp_path):
    def missing(d):
        d['Models'][0]['Config'] = 'configs/cam/cam_r50_voc_missing.py'
        d['Models'][0]['Name'] = 'cam_r50_voc_missing'

    path = tmp_path / 'metafile.yml'
    path.write_text(yaml.safe_dump(_broken(missing), sort_keys=False))
    errors = check_metafile(load_metafile(str(path)), 'cam')
    assert errors == ["model 'cam_r50_voc_missing': Config "
                      'configs/cam/cam_r50_voc_missing.py does not exist']
    assert check_metafile(metafile('cam'), 'cam') == []


@pytest.mark.parametrize('mutate,expect', [
    (lambda d: d['Models'][0].update({'Config': 'configs/c2am/voc_r50.py'}),
     'is not a .py path in configs/cam/'),
    (lambda d: d['Models'][0].update({'In Collection': 'Nope'}),
     "In Collection 'Nope' is not a collection of this file"),
    (lambda d: d['Models'][0].update({'Name': 'other'}),
     "Name must be the config's stem"),
    (lambda d: d['Models'][0].pop('Weights'), "lacks ['Weights']"),
    (lambda d: d['Models'][0].update({'Results': [dict(
        Task='t', Dataset=GEN_DATA, Metrics={'mIoU': '39.0'})]}),
     'Metrics must map names to numbers'),
    (lambda d: d['Models'][0].update({'Results': [dict(
        Task='t', Dataset='Pascal VOC 2012 + Aug', Metrics={'mIoU': 52.1})]}),
     'only ' + repr(GEN_DATA) + ' has been measured'),
    (lambda d: d['Models'][0].update({'Results': dict(
        Task='t', Dataset=GEN_DATA, Metrics={'mIoU': 39.0})}),
     'Results must be a list'),
    (lambda d: d['Models'][0]['Metadata'].update({'Batch Size': '16'}),
     'Batch Size must be a positive integer'),
    (lambda d: d['Models'][0]['Metadata'].update({'Training Data': 'COCO'}),
     "Training Data 'COCO' is not one of its collection's"),
    (lambda d: d['Collections'][0].update({'README': 'README.md'}),
     'README must be the existing configs/cam/README.md'),
    (lambda d: d['Collections'][0]['Code'].update({'URL': 'mmc2am/nope.py'}),
     'is neither an https URL nor a file of the repository'),
    (lambda d: d['Collections'][0].pop('Paper'), "lacks ['Paper']"),
    (lambda d: d['Models'].append(copy.deepcopy(d['Models'][0])),
     'is listed twice'),
])
def test_the_checker_finds(mutate, expect):
    errors = check_metafile(_broken(mutate), 'cam')
    assert len(errors) == 1 and expect in errors[0], errors
