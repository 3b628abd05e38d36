"""fpalib: Fast Weight Painters (Irie & Schmidhuber, ICLR 2023) as a small library.

Sub-packages:
    fpalib.rules    fast-weight learning rules (delta, additive, additive-rate, Oja), loop and parallel forms
    fpalib.models   the painter, the LightGAN generator and discriminator
    fpalib.train    configuration dataclasses, losses, EMA and the GAN trainer
    fpalib.metrics  FID, KID, SWD and pixel precision/recall
    fpalib.data     image-folder datasets and the emoji set
    fpalib.sampling seeded samples, interpolations, before/after pairs (what the commands write)
    fpalib.viz      figures, GIFs and notebook widgets
    fpalib.fewshot  the few-shot DeltaNet of the paper's Figure 1
    fpalib.tutorial notebook set-up and the helpers of the notebooks
    fpalib.commands the `fpa` sub-commands (argument parsing and printing only)
"""

__version__ = "0.1.0"
