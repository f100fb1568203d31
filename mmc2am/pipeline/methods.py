"""The methods of a pipeline config (``configs/pipelines/<preset>.py``) and
their stages.

A pipeline config is an mmengine config whose ``methods`` map a method's
key to its configs (``classifier``, ``cams``, ``crf``, ``irn``; those an
entry leaves out follow ``stage_configs``' patterns), its table ``name``,
the method it ``start`` s from and whether it ``trains`` a classifier
(and, optionally, ``start_masks``: the key of its classifier config that
reads its start method's pseudo-masks, CONTA's confounder set; ``smoke``:
its own ``--smoke`` options; ``until``: the last kind of :data:`KINDS` its
stages make, e.g. ``'seeds'`` for a classifier that is only another
method's start point); with ``data_root``, ``generate_data``,
``segmenter``, ``reference``, ``default_methods``, ``jobs``,
``stage_threads``, ``figure`` and ``expected_seconds``
(``configs/pipelines/gen.py`` says what each is), and optionally
``refine`` (``--refine``'s default), ``generator`` (the generator options'
defaults of ``--generate``) and ``smoke`` (``--smoke``'s ``--cfg-options``
per config field; ``configs/pipelines/voc.py``). A new method is its
configs and one entry, in a pipeline config of the repository or in one
that inherits it (``_base_``).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..utils.config_files import CONFIG_ROOT, find_config
from .stage import KINDS, Stage, config_stem, until, work_dir_of

#: The configs of a method's stages, in the order its stages use them.
FIELDS = ('classifier', 'cams', 'crf', 'irn')
#: The fields of a pipeline config's ``smoke`` options: FIELDS and the
#: segmenter.
SMOKE_FIELDS = FIELDS + ('segmenter', )

Key = Tuple[str, int]  # (method, index of the stage in its list)


def pipeline_file(pipeline: str) -> str:
    """The file of a pipeline config: an existing path, or the name of one
    in ``configs/pipelines`` (``'gen'``, ``'voc.py'``)."""
    if osp.isfile(pipeline):
        return osp.abspath(pipeline)
    name = pipeline if pipeline.endswith('.py') else pipeline + '.py'
    path = osp.join(CONFIG_ROOT, 'pipelines', name)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'no pipeline config {pipeline!r} (a file, or one of '
            f'{", ".join(presets())})')
    return path


def presets() -> List[str]:
    """The pipeline configs of the repository: ``['gen', 'voc']``."""
    import glob
    return sorted(config_stem(p) for p in glob.glob(
        osp.join(CONFIG_ROOT, 'pipelines', '*.py')))


#: The sub-folder of a segmenter's work dir where its test without the
#: test-time CRF writes (segmenter configs with ``model.test_cfg.crf``).
NO_CRF = 'no_crf'


def has_test_crf(config: str) -> bool:
    """Whether a segmenter config scores with a test-time dense CRF
    (``model.test_cfg.crf`` set, :class:`mmc2am.models.CRFEncoderDecoder`)."""
    cfg = Config.fromfile(config, import_custom_modules=False)
    return (cfg.model.get('test_cfg') or {}).get('crf') is not None


class Methods:
    """The methods of one pipeline config and the stages of each.

    Args:
        pipeline (str): A pipeline config: a file, or a preset name
            (:func:`pipeline_file`).

    Raises:
        ValueError: An entry without ``name`` or ``classifier``, a start
            method that is not in the config or trains no classifier, a
            reference or default method not in the config.
    """

    def __init__(self, pipeline: str):
        self.file = pipeline_file(pipeline)
        self.cfg = Config.fromfile(self.file, import_custom_modules=False)
        cfg = self.cfg
        self.entries: Dict[str, dict] = {k: dict(v)
                                         for k, v in cfg.methods.items()}
        self.data_root: str = cfg.data_root
        self.generate_data: bool = bool(cfg.get('generate_data', False))
        self.segmenter: str = self._resolve(cfg.segmenter)
        self.segmenter_crf: bool = has_test_crf(find_config(self.segmenter))
        self.reference: str = cfg.get('reference', next(iter(self.entries)))
        self.default_methods: List[str] = list(
            cfg.get('default_methods', [self.reference]))
        self.jobs: int = int(cfg.get('jobs', 1))
        self.stage_threads: Optional[int] = cfg.get('stage_threads')
        self.figure: bool = bool(cfg.get('figure', False))
        self.expected_seconds: Dict[str, float] = dict(
            cfg.get('expected_seconds', {}))
        self.refine: List[str] = list(cfg.get('refine', ['crf']))
        self.generator: Dict[str, object] = dict(cfg.get('generator', {}))
        self.smoke: Dict[str, List[str]] = {
            k: list(v) for k, v in cfg.get('smoke', {}).items()}
        self._check()

    def _check(self) -> None:
        for key, entry in self.entries.items():
            for field in ('name', 'classifier'):
                if field not in entry:
                    raise ValueError(f'{self.file}: method {key!r} has no '
                                     f'{field!r}')
            start = entry.get('start')
            if start is None:
                continue
            if start not in self.entries or start == key:
                raise ValueError(f'{self.file}: method {key!r} starts from '
                                 f'{start!r}, not another method of it')
            if not self.trains(start):
                raise ValueError(
                    f'{self.file}: method {key!r} starts from {start!r}, '
                    'which trains no classifier')
        for key, entry in self.entries.items():
            if entry.get('start_masks') and (
                    entry.get('start') is None or not self.trains(key)):
                raise ValueError(
                    f'{self.file}: method {key!r} reads the masks of its '
                    'start method (start_masks) but has no start or trains '
                    'no classifier')
            if entry.get('until', KINDS[-1]) not in KINDS:
                raise ValueError(f'{self.file}: method {key!r}: until '
                                 f'{entry["until"]!r} is not one of {KINDS}')
            for field in [*self.smoke, *entry.get('smoke', {})]:
                if field not in SMOKE_FIELDS:
                    raise ValueError(
                        f'{self.file}: smoke options of {field!r}, not one '
                        f'of {SMOKE_FIELDS}')
        for key in [self.reference, *self.default_methods]:
            if key not in self.entries:
                raise ValueError(f'{self.file}: {key!r} is not one of its '
                                 f'methods {self.keys}')

    # a method -----------------------------------------------------------
    @property
    def keys(self) -> List[str]:
        """The methods, in the config's order (the table's)."""
        return list(self.entries)

    @property
    def names(self) -> Dict[str, str]:
        """Method -> its name in the tables."""
        return {k: e['name'] for k, e in self.entries.items()}

    def start(self, method: str) -> Optional[str]:
        """The method whose classifier ``method`` starts from (None: its
        own from scratch)."""
        return self.entries[method].get('start')

    def trains(self, method: str) -> bool:
        """Whether ``method`` trains a classifier of its own (AdvCAM: a
        test mode of its start method's)."""
        return bool(self.entries[method].get('trains', True))

    def config(self, method: str, field: str) -> str:
        """The config of ``field`` (:data:`FIELDS`) of ``method``: named by
        its entry, else by the ``stage_configs`` pattern."""
        entry = self.entries[method]
        if field in entry:
            return self._resolve(entry[field])
        pattern = self.cfg.get('stage_configs', {}).get(field)
        if pattern is None:
            raise KeyError(f'{self.file}: method {method!r} names no '
                           f'{field!r} config and stage_configs no pattern')
        return self._resolve(pattern.format(
            method=method,
            classifier=config_stem(self.config(method, 'classifier'))))

    def _resolve(self, name: str) -> str:
        """``name`` as it is where :func:`find_config` finds it, else the
        path of the file of that name beside the pipeline config (a user's
        config next to a user's pipeline config)."""
        try:
            find_config(name)
            return name
        except FileNotFoundError:
            beside = osp.join(osp.dirname(self.file), name)
            # else left for find_config to refuse when the stage runs
            return osp.abspath(beside) if osp.isfile(beside) else name

    def classifier_dir(self, method: str) -> str:
        """The work dir whose last checkpoint the classifier test stages of
        ``method`` (seeds, CAM files) take: its own classifier's, or for a
        method that trains none (AdvCAM) that of its start method."""
        if self.trains(method):
            return work_dir_of(self.config(method, 'classifier'))
        return self.classifier_dir(self.start(method))

    def masks_dir(self, method: str, refine: str) -> str:
        """The folder of ``method``'s pseudo-masks of ``refine``
        (``'crf'`` or ``'irn'``): its config's ``<work dir>/masks``."""
        return osp.join(work_dir_of(self.config(method, refine)), 'masks')

    def start_masks(self, method: str) -> Optional[str]:
        """The key of ``method``'s classifier config that reads its start
        method's pseudo-masks (CONTA's confounder set), or None."""
        return self.entries[method].get('start_masks')

    def smoke_options(self, methods: Sequence[str]) -> List[str]:
        """``--smoke``: the ``STEM:KEY=VALUE`` items (the engine's
        ``cfg_options``) of the ``smoke`` options of the pipeline config and
        of each method's entry, for the configs of ``methods``' stages and
        the segmenter.

        Raises:
            ValueError: The pipeline config has no ``smoke`` options.
        """
        if not self.smoke:
            raise ValueError(f'{self.file} has no smoke options')
        out: List[str] = []
        for method in methods:
            own = self.entries[method].get('smoke', {})
            for field in SMOKE_FIELDS:
                config = self.segmenter if field == 'segmenter' else \
                    self.config(method, field)
                for opt in [*self.smoke.get(field, []), *own.get(field, [])]:
                    item = f'{config_stem(config)}:{opt}'
                    if item not in out:
                        out.append(item)
        return out

    @staticmethod
    def segmenter_dir(method: str, refine: str) -> str:
        """The work dir of the segmenter on ``method``'s ``refine`` masks."""
        return osp.join('work_dirs', f'seg_{method}_{refine}')

    def stages(self, method: str, refine: str,
               seed: Optional[int] = None,
               load_start: bool = False) -> List[Stage]:
        """The stages of one method; the segmenter trains on ``refine``'s
        masks (``'crf'`` or ``'irn'``); ``seed``: ``randomness.seed`` of the
        classifier stages of a trained method (None: the configs');
        ``load_start``: a fine-tuning starts from the last checkpoint of its
        start method's classifier instead of its config's ``load_from``
        (``--smoke``: the start trained fewer epochs).

        A trained method's stage 0 trains its classifier; a method that
        trains none starts with the seed test, on the checkpoint of
        :meth:`classifier_dir`, in its config's own folder. A method with
        ``start_masks`` reads its start method's ``refine`` masks there.
        Each stage's ``after`` names the earlier stages whose outputs it
        reads."""
        cls, cams, crf = (self.config(method, f) for f in FIELDS[:3])
        trains = self.trains(method)
        rnd = () if seed is None or not trains else (
            f'randomness.seed={seed}', )
        ckpt = self.classifier_dir(method)
        start = self.start(method)
        key = self.start_masks(method)
        first = rnd + ((f'{key}={self.masks_dir(start, refine)}', )
                       if key else ())
        load_of = self.classifier_dir(start) if (
            load_start and start is not None and trains) else None
        out = [Stage('train', cls, opts=first, kind='classifier',
                     load_of=load_of)] if trains else []
        trained = tuple(range(len(out)))  # the classifier training, if any
        out += [
            Stage('test', cls, ckpt, opts=rnd, after=trained,
                  kind='seeds'),                 # seed mIoU (train)
            Stage('test', cams, ckpt, opts=rnd, after=trained,
                  kind='cams'),                  # CAMs of train_aug
        ]
        # CRF pseudo-masks; the generated-data configs read their
        # thresholds from the seed stage's test_metrics.json
        out.append(Stage('test', crf, after=(len(out) - 2, len(out) - 1),
                         kind='masks'))
        if refine == 'irn':
            irn = self.config(method, 'irn')
            out.append(Stage('train', irn,  # IRNet on the CRF masks
                             after=(len(out) - 1, ), kind='masks'))
            out.append(Stage('test', irn, work_dir_of(irn),  # random walk
                             after=(len(out) - 1, ), kind='masks'))
        masks = self.masks_dir(method, refine)
        seg_dir = self.segmenter_dir(method, refine)
        out += [
            Stage('train', self.segmenter, work_dir=seg_dir,
                  opts=(f'train_dataloader.dataset.mask_dir={masks}', ),
                  after=(len(out) - 1, ), kind='segmenter'),
            Stage('test', self.segmenter, seg_dir, work_dir=seg_dir,
                  after=(len(out), ), kind='segmenter'),  # val mIoU
        ]
        if self.segmenter_crf:  # the same checkpoint without the test CRF
            out.append(
                Stage('test', self.segmenter, seg_dir,
                      work_dir=osp.join(seg_dir, NO_CRF),
                      opts=('model.test_cfg.crf=None', ),
                      after=(len(out) - 2, ), kind='segmenter'))
        return out

    # several methods ----------------------------------------------------
    def to_run(self, methods: Sequence[str]) -> List[str]:
        """The chosen methods, the reference (always: the table's first
        row) and those they start from, in the config's order."""
        need = set()
        todo = [self.reference, *methods]
        while todo:
            m = todo.pop()
            if m not in self.entries:
                raise KeyError(f'no method {m!r} in {self.file} '
                               f'({", ".join(self.keys)})')
            if m not in need:
                need.add(m)
                if self.start(m) is not None:
                    todo.append(self.start(m))
        return [m for m in self.keys if m in need]

    def graph(self, methods: Sequence[str], refine: str,
              last: str = KINDS[-1], seed: Optional[int] = None,
              load_start: bool = False
              ) -> Tuple[Dict[Key, Stage], Dict[Key, List[Key]]]:
        """Every stage of ``methods`` up to those that make ``last``,
        keyed ``(method, index)``, and the stages each one waits for: those
        of its ``after``, and for the first stages of a method with a start
        method the training of that method's classifier (its stage 0), which
        they fine-tune (the configs' ``load_from``) or test (AdvCAM); a
        method with ``start_masks`` also waits for its start method's last
        mask stage (whose stages then run up to their masks at least).
        ``load_start``: :meth:`stages`'."""
        nodes, deps = {}, {}
        masks_of = {self.start(m) for m in methods if self.start_masks(m)}
        for method in methods:
            start = self.start(method)
            upto = KINDS[max(KINDS.index(last), KINDS.index('masks'))] \
                if method in masks_of else last
            own = self.entries[method].get('until', KINDS[-1])
            if KINDS.index(own) < KINDS.index(upto):
                upto = own
            stages = self.stages(method, refine, seed, load_start)
            for i, st in enumerate(until(stages, upto)):
                nodes[method, i] = st
                deps[method, i] = [(method, j) for j in st.after]
                if start is not None and not st.after:
                    deps[method, i].append((start, 0))
                    if self.start_masks(method) and st.tool == 'train':
                        deps[method, i].append(
                            (start, self.masks_stage(start, refine)))
        return nodes, deps

    def masks_stage(self, method: str, refine: str) -> int:
        """The index of ``method``'s last stage that makes ``refine``'s
        masks (:meth:`stages`)."""
        return max(i for i, st in enumerate(self.stages(method, refine))
                   if st.kind == 'masks')

    def expected(self, stage: Stage) -> float:
        """Expected seconds of a stage (``expected_seconds``; 60 if not
        measured)."""
        return float(self.expected_seconds.get(
            f'{stage.tool} {stage.stem}', 60))
