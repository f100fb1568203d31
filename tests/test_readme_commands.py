"""The README's stage-by-stage commands run as written: each parses with its
tool, loads its config, and reads only what an earlier command wrote
(checkpoints, CAM files, masks: the configs' default folders chain)."""
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
        hook = cfg.get('default_hooks', {}).get('cam_file')
        if hook:
            written.add(hook.get('out_dir') or f'{work}/cams')


@pytest.mark.parametrize('method,configs', [
    ('cam', ('cam_r50_voc.py', 'cam_r50_voc_trainaug.py',
             'crf_voc_cam.py', 'irn_r50_voc_cam.py')),
    ('c2am', ('c2am_r50_voc.py', 'c2am_r50_voc_trainaug.py', 'crf_voc_c2am.py',
              'irn_r50_voc_c2am.py')),
])
def test_both_methods_have_their_stage_commands(method, configs):
    used = {osp.basename(argv[0]) for _, *argv in stage_commands()}
    assert set(configs) <= used, (method, sorted(used))
