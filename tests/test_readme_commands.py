"""The README's stage-by-stage commands run as written: each parses with its
tool, loads its config, and reads only what an earlier command wrote
(checkpoints, CAM files, masks: the configs' default folders chain). In
every README (top-level, benchmarks/, configs/ and each config family's) the
commands name existing files, the links resolve and the config names are
configs."""
import glob
import importlib.util
import os.path as osp
import re
import shlex
import sys

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def stage_commands():
    """The ``python tools/...`` lines of the first bash block after the
    README's "stage by stage" (continuation lines joined, comments cut)."""
    with open(osp.join(REPO, 'README.md')) as f:
        text = f.read()
    start = text.index('stage by stage')
    block = re.search(r'```bash\n(.*?)```', text[start:], re.S).group(1)
    block = re.sub(r'\\\n\s*', ' ', block)
    cmds = []
    for line in block.splitlines():
        line = line.split('#', 1)[0].strip()
        if line.startswith('python tools/'):
            cmds.append(shlex.split(line)[1:])
    return cmds


def parse(tool, argv):
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(tool))[0], osp.join(REPO, tool))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    saved = sys.argv
    try:
        sys.argv = [tool, *argv]
        return mod.parse_args()
    finally:
        sys.argv = saved


def test_stage_by_stage_commands_chain():
    cmds = stage_commands()
    assert len(cmds) >= 8, cmds
    written = set()  # files and folders the commands before wrote
    for tool, *argv in cmds:
        assert tool in ('tools/train.py', 'tools/test.py'), tool
        args = parse(tool, argv)
        cfg = Config.fromfile(osp.join(REPO, args.config))
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        stem = osp.splitext(osp.basename(args.config))[0]
        work = args.work_dir or f'work_dirs/{stem}'
        line = ' '.join([tool, *argv])
        if tool == 'tools/train.py':
            if cfg.get('load_from'):
                assert cfg.load_from in written, line
            data = cfg.train_dataloader.dataset
            for key in ('label_dir', 'mask_dir'):
                if data.get(key):
                    assert data[key] in written, (line, key, data[key])
            written.add(f"{work}/epoch_{cfg.train_cfg.get('max_epochs')}.pth")
            continue
        if args.checkpoint is not None:
            assert args.checkpoint in written, line
        data = cfg.test_dataloader.dataset
        if data.get('cam_dir'):
            assert data.cam_dir in written, (line, data.cam_dir)
        if data.get('out_dir'):
            written.add(data.out_dir)
        hooks = cfg.get('default_hooks', {})
        for key, sub in (('cam_file', 'cams'), ('mask_file', 'masks')):
            if hooks.get(key):
                written.add(hooks[key].get('out_dir') or f'{work}/{sub}')


@pytest.mark.parametrize('method,configs', [
    ('cam', ('cam_r50_voc.py', 'cam_r50_voc_trainaug.py',
             'crf_voc_cam.py', 'irn_r50_voc_cam.py')),
    # voc_r50.py: the README's command for C2AM, c2am_r50_voc.py's alias
    ('c2am', ('voc_r50.py', 'c2am_r50_voc_trainaug.py', 'crf_voc_c2am.py',
              'irn_r50_voc_c2am.py')),
])
def test_both_methods_have_their_stage_commands(method, configs):
    used = {osp.basename(argv[0]) for _, *argv in stage_commands()}
    assert set(configs) <= used, (method, sorted(used))


# ----------------------------------------------------------------------------
# Every README (the top-level one, benchmarks', configs/ and each config
# family's): the commands name files that exist, the links lead somewhere,
# the config names are configs.

READMES = ['README.md', 'benchmarks/README.md', 'configs/README.md'] + sorted(
    osp.relpath(p, REPO)
    for p in glob.glob(osp.join(REPO, 'configs', '*', 'README.md')))
#: the section of configs/README.md that lists the names configs had
OLD_NAMES = '## Old config names'
#: folders whose files a README names by their repository path
REPO_DIRS = ('configs/', 'tools/', 'benchmarks/', 'tests/', 'mmc2am/',
             'demo/')
#: config families (file-name prefixes); a backticked ``<prefix>....py`` is
#: a config name that mmc2am.utils.find_config must find
CONFIG_PREFIXES = ('cam_', 'c2am_', 'recam_', 'advcam_', 'conta_', 'crf_',
                   'irn_', 'deeplabv3plus_', 'deeplabv2_', 'voc_r50')


def read(rel):
    with open(osp.join(REPO, rel)) as f:
        return f.read()


def split_code(text):
    """(prose, code lines): the text outside fenced blocks, and the lines of
    the fenced blocks with continuation lines joined and comments cut."""
    blocks = re.findall(r'^```[^\n]*\n(.*?)^```', text, re.S | re.M)
    prose = re.sub(r'^```[^\n]*\n.*?^```', '', text, flags=re.S | re.M)
    lines = []
    for block in blocks:
        block = re.sub(r'\\\n\s*', ' ', block)
        lines += [re.split(r'\s#', line, maxsplit=1)[0].strip()
                  for line in block.splitlines()]
    return prose, [line for line in lines if line]


def slug(heading):
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r'[^\w\- ]', '', heading.strip().lower())
    return text.replace(' ', '-')


def anchors(rel):
    prose, _ = split_code(read(rel))
    return {slug(h) for h in re.findall(r'^#+ (.*)$', prose, re.M)}


def max_of(cfg, kind):
    return cfg.train_cfg.get('max_epochs' if kind == 'epoch' else 'max_iters')


@pytest.mark.parametrize('readme', READMES)
def test_readme_commands_name_existing_files(readme):
    """Each script a code block runs exists, each ``configs/...py`` it
    names too; ``tools/train.py`` / ``tools/test.py`` lines parse with the
    tool, and a checkpoint ``<work dir>/epoch_N.pth`` (``iter_N``) of a
    config's work dir is the last one that config's training writes."""
    from mmc2am.utils import find_config

    _, lines = split_code(read(readme))
    work_dirs = {}  # work dir -> config, from the train commands before
    for line in lines:
        for script in re.findall(r'\b(?:python3?|bash)\s+(\S+\.(?:py|sh))\b',
                                 line):
            if not script.startswith('.venv/'):
                assert osp.isfile(osp.join(REPO, script)), (readme, line)
        for path in re.findall(r'(?<![\w/.-])configs/[\w./-]+\.py', line):
            assert osp.isfile(osp.join(REPO, path)), (readme, line)
        m = re.search(r'\bpython3?\s+(tools/(?:train|test)\.py)\s+(.*)', line)
        if not m:
            continue
        tool, argv = m.group(1), shlex.split(m.group(2))
        args = parse(tool, argv)
        assert osp.isfile(osp.join(REPO, args.config)), (readme, line)
        stem = osp.splitext(osp.basename(args.config))[0]
        work = args.work_dir or f'work_dirs/{stem}'
        if tool == 'tools/train.py':
            work_dirs[work] = args.config
            continue
        ckpt = re.fullmatch(r'(.+)/(epoch|iter)_(\d+)\.pth',
                            args.checkpoint or '')
        if not ckpt:
            continue
        trained = work_dirs.get(ckpt.group(1))
        if trained is None and ckpt.group(1).startswith('work_dirs/'):
            try:
                trained = find_config(ckpt.group(1)[len('work_dirs/'):])
            except FileNotFoundError:
                continue  # a folder of a script (run_pipeline, benchmarks)
        if trained is not None:
            cfg = Config.fromfile(osp.join(REPO, trained))
            assert max_of(cfg, ckpt.group(2)) == int(ckpt.group(3)), (
                readme, line, 'the training writes another last checkpoint')


@pytest.mark.parametrize('readme', READMES)
def test_readme_links_and_config_names_resolve(readme):
    """Relative links (and their #anchors) lead to existing files and
    headings; backticked config names and repository paths exist (the old
    names of configs/README.md's table aside)."""
    from mmc2am.utils import find_config

    text = read(readme)
    if OLD_NAMES in text:
        text = text[:text.index(OLD_NAMES)]
    prose, _ = split_code(text)
    here = osp.dirname(readme)
    targets = re.findall(r'\]\(([^)\s]+)\)', prose) + re.findall(
        r'<a href="([^"]+)"', prose)
    for target in targets:
        if re.match(r'[a-z]+:', target):
            continue  # https://, mailto:
        path, _, anchor = target.partition('#')
        rel = osp.normpath(osp.join(here, path)) if path else readme
        assert osp.exists(osp.join(REPO, rel)), (readme, target)
        if anchor and rel.endswith('.md'):
            assert anchor in anchors(rel), (readme, target)
    for name in re.findall(r'`([^`\s]+\.py)`', prose):
        if re.search(r'[*{<]', name):
            continue  # a pattern: crf_gen_*.py, irn_{cam,c2am}_r50_voc.py
        if name.startswith(REPO_DIRS):
            assert osp.isfile(osp.join(REPO, name)), (readme, name)
        elif name.startswith('_base_/'):
            assert osp.isfile(osp.join(REPO, 'configs', name)), (readme, name)
        elif '/' not in name and name.startswith(CONFIG_PREFIXES):
            find_config(name)  # raises FileNotFoundError


def test_old_config_names_table():
    """configs/README.md maps every name of the configs before the move to
    an existing config; the old files are gone, but the README's command
    configs/c2am/voc_r50.py, which stays as an alias."""
    text = read('configs/README.md')
    section = text[text.index(OLD_NAMES):]
    rows = re.findall(r'^\| `(configs/[^`]+)` \| `(configs/[^`]+)`', section,
                      re.M)
    assert len(rows) >= 56
    for old, new in rows:
        assert osp.isfile(osp.join(REPO, new)), new
        if old not in (new, 'configs/c2am/voc_r50.py'):
            assert not osp.exists(osp.join(REPO, old)), old
    assert ('configs/c2am/voc_r50.py', 'configs/c2am/c2am_r50_voc.py') in rows
