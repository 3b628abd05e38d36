"""Few-shot learning with a DeltaNet (the setting of the paper's Figure 1, notebook 02).

:mod:`~fpalib.fewshot.episodes` builds N-way K-shot episodes from a labelled image folder;
:mod:`~fpalib.fewshot.training` trains and evaluates :class:`~fpalib.models.deltanet.FewShotDeltaNet`
on them (``fpa fewshot``).
"""

from fpalib.fewshot.episodes import (
    ClassSplit,
    EpisodeBatch,
    EpisodeConfig,
    EpisodeSampler,
    LabelledImages,
    hide_support_labels,
    load_labelled_images,
    split_classes,
)
from fpalib.fewshot.training import (
    CHECKPOINT_FILE,
    CHECKPOINT_KIND,
    FewShotResult,
    FewShotTask,
    FewShotTrainConfig,
    evaluate,
    load_fewshot_checkpoint,
    load_fewshot_model,
    run_fewshot,
    train_fewshot,
)

__all__ = [
    "CHECKPOINT_FILE", "CHECKPOINT_KIND", "ClassSplit", "EpisodeBatch", "EpisodeConfig", "EpisodeSampler",
    "FewShotResult", "FewShotTask", "FewShotTrainConfig", "LabelledImages", "evaluate",
    "hide_support_labels", "load_fewshot_checkpoint", "load_fewshot_model",
    "load_labelled_images", "run_fewshot", "split_classes", "train_fewshot",
]
